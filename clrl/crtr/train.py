"""CRTR training for the puzzles: ``python -m clrl.train cube|sokoban``.

Reads top to bottom: build the task, encoder and optimizer from the config (or a checkpoint when
resuming; ``train.init_from`` starts the encoder from an earlier run's), then loop: sample a CRTR
batch (trajectories repeated R times, so negatives include states of the same trajectory), encode
anchors and futures with one encoder, take an Adam step on the CRTR loss (plus, with
``bellman.weight > 0``, the Bellman loss of :mod:`clrl.crtr.bellman`), and log. Every
``eval_every`` steps it measures how well latent distance to the goal tracks moves-to-go (Spearman)
how often greedy latent descent solves puzzles and, for the cube, how often the best child of a
state at each exact distance is nearer, with an image of one rollout. Checkpoints are
atomic; Ctrl-C saves before exiting; a NaN loss stops with the last good checkpoint kept.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from clrl.checkpoint import load_checkpoint, save_checkpoint
from clrl.config import differences, with_added_keys
from clrl.crtr.bellman import DistanceHead, bellman_loss, bellman_targets, scramble_states
from clrl.crtr.model import CHECKPOINT_NAME, build_model, distance_to_own_goal, latent_heuristic
from clrl.diagnostics import effective_rank
from clrl.errors import UserError
from clrl.losses.crtr import crtr_logits
from clrl.losses.infonce import contrastive_accuracy, info_nce_from_logits
from clrl.losses.similarity import pairwise_similarity
from clrl.planners import greedy
from clrl.planners.goal_table import cube_goal_table
from clrl.runs import make_writer, pick_device, progress_bar, saved_on_interrupt, seed_everything


def check_config(config: dict[str, Any]) -> None:
    data, train = config["data"], config["train"]
    if data["batch_size"] % data["repetition_factor"] != 0:
        raise UserError(
            f"data.batch_size ({data['batch_size']}) must be a multiple of "
            f"data.repetition_factor ({data['repetition_factor']})"
        )
    if not 0 < data["gamma"] <= 1:
        raise UserError(f"data.gamma must be in (0, 1], got {data['gamma']}")
    if train["lr"] <= 0:
        raise UserError(f"train.lr must be positive, got {train['lr']}")
    for key in ("log_every", "eval_every", "checkpoint_every"):
        if train[key] <= 0:
            raise UserError(f"train.{key} must be positive, got {train[key]}")
    crtr_weight, bellman = config["loss"]["crtr_weight"], config.get("bellman")
    bellman_weight = bellman["weight"] if bellman else 0.0
    if crtr_weight < 0 or bellman_weight < 0 or crtr_weight + bellman_weight == 0:
        raise UserError("loss.crtr_weight and bellman.weight must be >= 0, and not both 0")
    if bellman_weight > 0:
        for key in ("batch_size", "max_depth", "table_radius", "target_every"):
            if bellman[key] < 1:
                raise UserError(f"bellman.{key} must be at least 1, got {bellman[key]}")


def latent_scores(encoder: torch.nn.Module, features: torch.Tensor, goal: torch.Tensor, similarity: str):
    """``(N,)`` latent scores ``-sim(phi(s), phi(goal))`` of the states, then the goal, encoded together."""
    latents = encoder(torch.cat([features, goal]))
    return -pairwise_similarity(latents[:-1], latents[-1:], similarity)[:, 0]


def train(job: str, config: dict[str, Any], *, run_dir: Path, steps: int | None, resume: bool) -> None:
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if resume:
        saved = load_checkpoint(checkpoint_path, job=job)
        given, config = config, with_added_keys(job, saved.config)
        ignored = differences(config, given)
        if ignored:
            # a resumed run is the run it was: its saved config holds, whatever the command line says
            print(f"resuming with the run's saved config; not applied: {', '.join(ignored)}", flush=True)
    check_config(config)
    total_steps = steps if steps is not None else config["train"]["steps"]
    data, train_cfg, loss_cfg = config["data"], config["train"], config["loss"]

    seed_everything(config["seed"])
    device = pick_device(config["device"])
    task, encoder = build_model(job, config)
    encoder.to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=train_cfg["lr"])
    bellman = config.get("bellman")  # cube only: the targets need the goal table
    if bellman is not None and bellman["weight"] > 0:
        if job != "cube":
            raise UserError("bellman refinement needs the cube's goal table; set bellman.weight=0")
        head = DistanceHead().to(device)
        optimizer.add_param_group({"params": head.parameters()})
        table = cube_goal_table(bellman["table_radius"])
        goal_features = task.featurize(task.goals(None)).to(device)
    else:
        bellman, head = None, None
    rng = np.random.default_rng(config["seed"])
    step = 0
    if resume:
        encoder.load_state_dict(saved.state["encoder"])
        if head is not None and "distance_head" in saved.state:
            head.load_state_dict(saved.state["distance_head"])
        optimizer.load_state_dict(saved.state["optimizer"])
        rng.bit_generator.state = saved.state["numpy_rng"]
        torch.set_rng_state(saved.state["torch_rng"])
        step = saved.step
        print(f"resuming {run_dir} from step {step}", flush=True)
    elif train_cfg["init_from"] is not None:
        # Fine-tuning: the weights of an earlier run, a fresh optimizer, steps counted from 0.
        start = load_checkpoint(train_cfg["init_from"], job=job, expected_config=config)
        encoder.load_state_dict(start.state["encoder"])
    if bellman is not None:
        target_encoder, target_head = copy.deepcopy(encoder).eval(), copy.deepcopy(head)
        if resume and "target_encoder" in saved.state:
            target_encoder.load_state_dict(saved.state["target_encoder"])
            target_head.load_state_dict(saved.state["target_head"])

        @torch.no_grad()
        def target_distance(children: np.ndarray) -> np.ndarray:
            features = task.featurize(children).to(device)
            scores = latent_scores(target_encoder, features, goal_features, loss_cfg["similarity"])
            return target_head(scores).cpu().numpy()

    def save() -> None:
        state = {
            "encoder": encoder.state_dict(),
            "optimizer": optimizer.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        if bellman is not None:
            state |= {
                "distance_head": head.state_dict(),
                "target_encoder": target_encoder.state_dict(),
                "target_head": target_head.state_dict(),
            }
        if not all(torch.isfinite(p).all() for p in encoder.parameters()):
            raise UserError(f"the encoder's weights are not finite at step {step}; not saving them")
        save_checkpoint(checkpoint_path, job=job, step=step, config=config, state=state)

    task.prepare(run_dir)
    heldout = task.heldout(config["seed"], config["eval"]["trajectories"])
    reach_suite = task.reach_suite(config["seed"])
    writer = make_writer(run_dir)
    progress = progress_bar(total_steps, step, f"train {job}")
    window_start, window_steps = time.perf_counter(), 0

    def save_and_say() -> str:
        save()
        return f"saved step {step} to {checkpoint_path}"

    try:
        with saved_on_interrupt(save_and_say):
            while step < total_steps:
                terms = {}
                if loss_cfg["crtr_weight"] > 0:
                    anchors, futures = task.sample_batch(
                        rng, data["batch_size"], data["repetition_factor"], data["gamma"]
                    )
                    latents = encoder(task.featurize(np.concatenate([anchors, futures])).to(device))
                    anchor_latents, future_latents = latents.chunk(2)
                    logits = crtr_logits(
                        anchor_latents,
                        future_latents,
                        similarity=loss_cfg["similarity"],
                        temperature=loss_cfg["temperature"],
                    )
                    terms["crtr_loss"] = info_nce_from_logits(logits, loss_cfg["direction"])
                if bellman is not None:
                    states = scramble_states(rng, bellman["batch_size"], bellman["max_depth"])
                    targets = torch.from_numpy(bellman_targets(table, states, target_distance)).to(device)
                    scores = latent_scores(
                        encoder, task.featurize(states).to(device), goal_features, loss_cfg["similarity"]
                    )
                    terms["bellman_loss"] = bellman_loss(head(scores), targets)
                loss = loss_cfg["crtr_weight"] * terms.get("crtr_loss", 0.0) + (
                    bellman["weight"] * terms["bellman_loss"] if bellman is not None else 0.0
                )
                if not torch.isfinite(loss):
                    kept = (
                        f"the last good checkpoint is {checkpoint_path}"
                        if checkpoint_path.exists()
                        else "none saved"
                    )
                    raise UserError(f"loss became {loss.item()} at step {step}; stopping ({kept})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                if bellman is not None and step % bellman["target_every"] == 0:
                    target_encoder.load_state_dict(encoder.state_dict())
                    target_head.load_state_dict(head.state_dict())
                window_steps += 1
                progress.update(1)

                if step % train_cfg["log_every"] == 0 or step == total_steps:
                    seconds = time.perf_counter() - window_start
                    for name, value in terms.items():
                        writer.add_scalar(f"losses/{name}", value.item(), step)
                    if "crtr_loss" in terms:
                        # Accuracy of the classification the loss trains: backward picks anchors for futures.
                        scored = logits.T if loss_cfg["direction"] == "backward" else logits
                        writer.add_scalar(
                            "charts/contrastive_accuracy", contrastive_accuracy(scored).item(), step
                        )
                        writer.add_scalar(
                            "charts/effective_rank", effective_rank(anchor_latents.detach()).item(), step
                        )
                    if bellman is not None:
                        writer.add_scalar("charts/bellman_target_mean", targets.mean().item(), step)
                    writer.add_scalar("charts/SPS", window_steps / seconds, step)
                    progress.set_postfix(loss=f"{loss.item():.3f}")
                    window_start, window_steps = time.perf_counter(), 0
                if step % train_cfg["eval_every"] == 0 or step == total_steps:
                    metrics, frames = evaluate_encoder(task, encoder, config, heldout, device, reach_suite)
                    for name, value in metrics.items():
                        writer.add_scalar(f"eval/{name}", value, step)
                    writer.add_image("eval/greedy_rollout", frames, step, dataformats="HWC")
                    encoder.train()
                if step % train_cfg["checkpoint_every"] == 0 or step == total_steps:
                    save()
    finally:
        progress.close()
        writer.close()
    print(f"saved {checkpoint_path} (step {step})")


def evaluate_encoder(
    task,
    encoder: torch.nn.Module,
    config: dict[str, Any],
    heldout,
    device,
    reach_suite: dict[int, np.ndarray] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """Spearman correlation of latent distance with moves-to-go, greedy solve rate, one rollout image,
    and the nearer-child rate at each exact distance of ``reach_suite`` (states by distance)."""
    eval_cfg = config["eval"]
    encoder.eval()
    puzzles = task.eval_puzzles(config["seed"], eval_cfg)
    if reach_suite:
        rates = task.nearer_child_rates(latent_heuristic(task, encoder, config, None, device), reach_suite)
    correlation = spearmanr(
        distance_to_own_goal(task, encoder, config, heldout, device), heldout.moves_to_go
    ).statistic
    results = [
        greedy(
            task.domain,
            latent_heuristic(task, encoder, config, start, device),
            start,
            eval_cfg["greedy_max_moves"],
        )
        for start in puzzles
    ]
    solved = [r for r in results if r.solved]
    metrics = {
        "spearman": float(correlation),
        "greedy_solve_rate": len(solved) / len(results),
        "greedy_solution_length": float(np.mean([r.length for r in solved])) if solved else float("nan"),
    }
    if reach_suite:
        metrics |= {f"nearer_child_rate_d{distance}": rate for distance, rate in rates.items()}
    return metrics, rollout_strip(task, puzzles[0], results[0].actions[:7])


def rollout_strip(task, start: np.ndarray, actions: list[int]) -> np.ndarray:
    """Frames of a rollout side by side: the start and the states after each action."""
    frames = [task.render(start)]
    state = start
    for action in actions:
        state = task.domain.children(state[None])[0][0, action]
        frames.append(task.render(state))
    return np.concatenate(frames, axis=1)
