"""Every contrastive loss on digits and MNIST-1D, with raw-input baselines and the GMM-vs-LDA check.

Usage::

    python benchmarks/vision_results.py [--seeds 3] [--ood-seeds 1] [--out results.md]

For each dataset and seed it trains one encoder per loss with ``clrl.vision.train.train``
(configs/vision.yaml, epochs below), then reads the frozen features with the evaluation protocol
of ``python -m clrl.evaluate vision``: linear probe and weighted kNN accuracy on the test split,
and the test MAE of an L1 linear regression of the dataset's continuous factor (digit slant,
MNIST-1D shear). Baselines use the same probes on the raw inputs and on the random-init encoder,
plus the encoder trained end-to-end with the L1 loss (the Rank-N-Contrast paper's baseline).
Separate runs with a class group held out give the feature-norm OOD AUROC. Prints Markdown
tables (mean ± std over seeds) with the machine and the exact command.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is imported (torch imports it): set first

import numpy as np  # noqa: E402 - after the environment tweak above
import torch  # noqa: E402
from vision_gmm_lda import gmm_lda_benchmark, gmm_lda_table  # noqa: E402 - the sibling script

from clrl.config import load_config  # noqa: E402
from clrl.runs import cpu_model, seed_everything  # noqa: E402
from clrl.vision.evaluate import evaluate_features, l1_baseline_mae  # noqa: E402
from clrl.vision.metrics import extract_features  # noqa: E402
from clrl.vision.model import (  # noqa: E402
    CHECKPOINT_NAME,
    build_model,
    load_benchmark_data,
    load_trained_model,
    resolve_model_config,
)
from clrl.vision.train import train  # noqa: E402

LOSS_NAMES = ("simclr", "moco", "renyi", "slr", "rnc", "advssl")
OOD_CLASSES = {"digits": [7, 8, 9], "mnist1d": [7, 8, 9]}
CPU = torch.device("cpu")


def overrides_for(dataset: str, loss: str, seed: int, epochs: int, extra: list[str]) -> list[str]:
    return [
        f"dataset={dataset}",
        f"loss={loss}",
        f"seed={seed}",
        f"train.epochs={epochs}",
        "threads=1",
        "train.eval_every=1000",  # the benchmark reads the final features only
        "train.checkpoint_every=1000",
        *extra,
    ]


def train_and_measure(overrides: list[str], run_root: Path) -> dict[str, float | None]:
    config = load_config("vision", overrides=overrides)
    run_dir = Path(tempfile.mkdtemp(dir=run_root))
    train("vision", config, run_dir=run_dir)
    model, trained, data = load_trained_model(run_dir / CHECKPOINT_NAME, CPU)
    return evaluate_features(
        extract_features(model, data.train_x, CPU),
        extract_features(model, data.test_x, CPU),
        data,
        config["eval"],
        trained["ood_classes"],
    )


def baselines(dataset: str, seed: int, epochs: int) -> dict[str, dict[str, float | None]]:
    config = load_config("vision", overrides=overrides_for(dataset, "simclr", seed, epochs, []))
    data = load_benchmark_data(config)
    flat_train, flat_test = (
        data.train_x.reshape(len(data.train_x), -1),
        data.test_x.reshape(len(data.test_x), -1),
    )
    rows = {"raw input": evaluate_features(flat_train, flat_test, data, config["eval"], [])}
    seed_everything(seed)
    random_model = build_model(resolve_model_config(config), data)
    rows["random-init encoder"] = evaluate_features(
        extract_features(random_model, data.train_x, CPU),
        extract_features(random_model, data.test_x, CPU),
        data,
        config["eval"],
        [],
    )
    rows["L1 end-to-end (supervised)"] = {
        "linear_probe": None,
        "knn": None,
        "ood_auroc": None,
        "factor_mae": l1_baseline_mae(config, data, CPU),
    }
    return rows


def mean_std(values: list[float | None], scale: float = 1.0, digits: int = 1) -> str:
    numbers = [v * scale for v in values if v is not None]
    if not numbers:
        return "–"
    if len(numbers) == 1:
        return f"{numbers[0]:.{digits}f}"
    return f"{np.mean(numbers):.{digits}f} ± {np.std(numbers, ddof=1):.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per loss and dataset")
    parser.add_argument("--ood-seeds", type=int, default=1, help="seeds of the class-held-out OOD runs")
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    parser.add_argument("--losses", nargs="+", default=list(LOSS_NAMES))
    parser.add_argument("--epochs", nargs="+", default=["digits=20", "mnist1d=10"], help="dataset=epochs")
    parser.add_argument("--gmm-seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the tables here")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the models are tiny; a second busy thread only adds contention
    epochs = {key: int(value) for key, value in (item.split("=") for item in args.epochs)}
    started = time.time()
    run_root = Path(tempfile.mkdtemp(prefix="vision_results_"))
    lines = [
        "Machine: "
        f"{os.cpu_count()} cores, {cpu_model()}, torch {torch.__version__}, one torch thread per run.",
        f"Command: `python benchmarks/vision_results.py {' '.join(sys.argv[1:])}`",
        "",
    ]
    for dataset in args.datasets:
        table: dict[str, list[dict[str, float | None]]] = {}
        for seed in range(args.seeds):
            for name, row in baselines(dataset, seed, epochs[dataset]).items():
                table.setdefault(name, []).append(row)
            for loss in args.losses:
                tick = time.time()
                row = train_and_measure(overrides_for(dataset, loss, seed, epochs[dataset], []), run_root)
                table.setdefault(loss, []).append(row)
                print(f"{dataset} {loss} seed {seed}: {row} ({time.time() - tick:.0f} s)", file=sys.stderr)
        ood: dict[str, list[float | None]] = {}
        held_out = OOD_CLASSES[dataset]
        for seed in range(args.ood_seeds):
            for loss in args.losses:
                extra = [f"ood_classes={held_out}".replace(" ", "")]
                row = train_and_measure(overrides_for(dataset, loss, seed, epochs[dataset], extra), run_root)
                ood.setdefault(loss, []).append(row["ood_auroc"])
                print(f"{dataset} {loss} OOD seed {seed}: {row['ood_auroc']}", file=sys.stderr)
        factor = load_benchmark_data(load_config("vision", overrides=[f"dataset={dataset}"])).factor_name
        lines += [
            f"### {dataset} ({epochs[dataset]} epochs, {args.seeds} seeds; OOD: classes {held_out} "
            f"held out of training, {args.ood_seeds} seed(s))",
            "",
            f"| encoder | linear probe % | kNN % | {factor} MAE (L1 probe) | OOD AUROC (feature norm) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, rows in table.items():
            lines.append(
                f"| {name} | {mean_std([r['linear_probe'] for r in rows], 100)} "
                f"| {mean_std([r['knn'] for r in rows], 100)} "
                f"| {mean_std([r['factor_mae'] for r in rows], 1, 4)} "
                f"| {mean_std(ood.get(name, []), 1, 3)} |"
            )
        lines.append("")
    gmm = [gmm_lda_benchmark(seed=seed) for seed in range(args.gmm_seeds)]
    lines += [
        *gmm_lda_table(gmm),
        "",
        f"Total time: {(time.time() - started) / 60:.1f} min.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
