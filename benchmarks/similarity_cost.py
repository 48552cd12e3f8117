"""Seconds per forward and backward pass of each similarity kind on a CRTR-sized batch.

The logits of a CRTR step are ``pairwise_similarity`` of ``B`` anchors with ``B`` futures; the
quasimetric kinds build ``(B, B, dim)`` differences where ``dot`` needs one matmul, so their cost
decides whether they fit a training step (about 0.08 s for the default cube model on one thread).

    python benchmarks/similarity_cost.py [--batch 512] [--dim 64] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time

import torch

from clrl.losses.similarity import SIMILARITY_KINDS, pairwise_similarity
from clrl.runs import cpu_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    anchors = torch.randn(args.batch, args.dim, generator=generator, requires_grad=True)
    futures = torch.randn(args.batch, args.dim, generator=generator, requires_grad=True)

    machine = f"{cpu_model()} ({platform.machine()}), {args.threads} thread(s)"
    print(f"`python {shlex.join(sys.argv)}` on {machine}\n")
    print("| similarity | seconds per forward + backward | x dot |")
    print("|---|---:|---:|")
    seconds = {}
    for kind in sorted(SIMILARITY_KINDS, key=lambda kind: kind != "dot"):  # dot first: the yardstick
        pairwise_similarity(anchors, futures, kind).logsumexp(1).sum().backward()  # warm-up
        started = time.perf_counter()
        for _ in range(args.repeats):
            pairwise_similarity(anchors, futures, kind).logsumexp(1).sum().backward()
        seconds[kind] = (time.perf_counter() - started) / args.repeats
        print(f"| {kind} | {seconds[kind]:.4f} | {seconds[kind] / seconds['dot']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
