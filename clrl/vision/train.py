"""Vision training, ``python -m clrl.train vision``: an encoder fitted with one contrastive loss.

The encoder plus projection head sees two augmented views of each image, and ``config['loss']``
names the loss in :data:`clrl.losses.LOSSES`. The trainer names no loss: it gives each one what its
class declares (``needs_labels``: the dataset's continuous factor as per-sample targets, with views
that keep orientation; ``needs_momentum_encoder``: the second view encoded by an EMA copy of the
network; ``needs_feature_dim``, ``needs_seed``: constructor arguments).

The run logs ``losses/train_loss``, ``charts/SPS`` (optimizer steps per second) and, once per
``train.eval_every`` epochs, ``eval/knn_accuracy``, ``eval/effective_rank``, ``eval/alignment`` and
``eval/uniformity`` to TensorBoard, and writes atomic checkpoints it can resume from (never a
non-finite one). Ctrl-C and SIGTERM save before exiting; a non-finite loss or step stops the run
with the last good checkpoint kept.

Under ``torchrun`` (:mod:`clrl.distributed`) each rank takes its own slice of the step's global
batch, augments it from its own random stream, and the loss sees the projections of all ranks,
gathered with their gradients. Batch norm statistics span the global batch on CUDA
(``SyncBatchNorm``); on the CPU each rank normalises its own slice. Rank 0 evaluates, logs and saves.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clrl import distributed
from clrl.augment import build_two_views
from clrl.checkpoint import first_non_finite, load_checkpoint, save_checkpoint
from clrl.config import (
    ADAM_LEARNING_RATE,
    AT_LEAST_ONE,
    POSITIVE,
    Bound,
    ConfigError,
    check_bounds,
    resume_config,
)
from clrl.data.vision import CONTINUOUS_FACTORS, DATASETS, VisionDataset
from clrl.errors import UserError
from clrl.losses import LOSSES, build_loss
from clrl.runs import (
    check_model_size,
    cosine_decay,
    diverged,
    make_writer,
    pick_device,
    progress_bar,
    resuming_line,
    saved_on_interrupt,
    seed_everything,
)
from clrl.vision.metrics import extract_features, knn_accuracy, representation_diagnostics
from clrl.vision.model import (
    CHECKPOINT_NAME,
    DEFAULT_ENCODER,
    VisionModel,
    batch_order,
    build_model,
    in_distribution_mask,
    load_benchmark_data,
    resolve_model_config,
    set_threads,
    standardized_factor,
)

#: The range of every numeric key of configs/vision.yaml the trainer reads (null sizes: per dataset).
BOUNDS = {
    "mnist1d_samples": AT_LEAST_ONE,
    "model.channels": AT_LEAST_ONE,
    "model.latent_dim": AT_LEAST_ONE,
    "model.projection_hidden": AT_LEAST_ONE,
    "model.projection_dim": AT_LEAST_ONE,
    "train.epochs": AT_LEAST_ONE,
    "train.batch_size": AT_LEAST_ONE,
    "train.lr": ADAM_LEARNING_RATE,
    "train.weight_decay": Bound(0),
    "train.momentum": Bound(0, high=1),
    "train.log_every": AT_LEAST_ONE,
    "train.eval_every": AT_LEAST_ONE,
    "train.checkpoint_every": AT_LEAST_ONE,
    "train.diagnostics_samples": AT_LEAST_ONE,
    "eval.knn_k": AT_LEAST_ONE,
    "eval.knn_temperature": POSITIVE,
}


def check_config(config: dict[str, Any]) -> None:
    """Reject unknown names, classes out of range, and values outside :data:`BOUNDS` (exit code 2)."""
    check_bounds(config, BOUNDS)
    if config["loss"] not in LOSSES:
        raise ConfigError(f"unknown loss {config['loss']!r}; known: {', '.join(LOSSES)}")
    if config["dataset"] not in DATASETS:
        raise ConfigError(f"unknown dataset {config['dataset']!r}; known: {', '.join(DATASETS)}")
    if not isinstance(config["ood_classes"], list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in config["ood_classes"]
    ):
        raise ConfigError(f"ood_classes must be a list of class ids, got {config['ood_classes']!r}")
    # The labels this job gives a loss are the dataset's continuous factor of variation.
    if LOSSES[config["loss"]].needs_labels and config["dataset"] not in CONTINUOUS_FACTORS:
        raise ConfigError(
            f"loss={config['loss']} regresses a continuous factor, which {config['dataset']} does not have "
            f"(use {', '.join(CONTINUOUS_FACTORS)})"
        )
    encoder = config["model"]["encoder"]
    if encoder not in ("auto", *DEFAULT_ENCODER.values()):
        known = ", ".join(sorted({"auto", *DEFAULT_ENCODER.values()}))
        raise ConfigError(f"unknown model.encoder {encoder!r} for vision; known: {known}")


def build_loss_module(config: dict[str, Any]) -> nn.Module:
    """The configured loss from its ``losses.<name>`` section plus the arguments its class asks for."""
    name = config["loss"]
    hyperparameters = dict(config["losses"].get(name) or {})
    if LOSSES[name].needs_feature_dim:
        hyperparameters["dim"] = config["model"]["projection_dim"]
    if LOSSES[name].needs_seed:
        hyperparameters["seed"] = config["seed"]
    try:
        return build_loss(name, **hyperparameters)
    except ValueError as exc:
        raise ConfigError(f"losses.{name}: {exc}") from None


def with_model_resolved(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` whose ``model`` section has its ``auto`` / ``null`` sizes resolved for
    its dataset, as a checkpoint saves it."""
    return {**copy.deepcopy(config), "model": resolve_model_config(config)}


@dataclass
class TrainingParts:
    """Everything a training run updates, so checkpoints save and restore all of it at once."""

    model: VisionModel
    key_model: VisionModel | None
    loss: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "key_model": self.key_model.state_dict() if self.key_model is not None else None,
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.key_model is not None:
            self.key_model.load_state_dict(state["key_model"])
        self.loss.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])


class Projection(nn.Module):
    """The model's projections as its ``forward``: what ``DistributedDataParallel`` trains through."""

    def __init__(self, model: VisionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.project(x)


@torch.no_grad()
def ema_update(key_model: nn.Module, model: nn.Module, momentum: float) -> None:
    for key_param, param in zip(key_model.parameters(), model.parameters(), strict=True):
        key_param.mul_(momentum).add_(param.detach(), alpha=1 - momentum)
    for key_buffer, buffer in zip(key_model.buffers(), model.buffers(), strict=True):
        key_buffer.copy_(buffer)


def epoch_knn_accuracy(model: VisionModel, data: VisionDataset, config: dict[str, Any], device) -> float:
    """kNN accuracy on the in-distribution test set with the training set as memory bank."""
    train_in = in_distribution_mask(data.train_y, config["ood_classes"])
    test_in = in_distribution_mask(data.test_y, config["ood_classes"])
    return knn_accuracy(
        extract_features(model, data.train_x[train_in], device),
        data.train_y[train_in],
        extract_features(model, data.test_x[test_in], device),
        data.test_y[test_in],
        num_classes=data.num_classes,
        k=config["eval"]["knn_k"],
        temperature=config["eval"]["knn_temperature"],
    )


def train(
    job: str,
    config: dict[str, Any],
    *,
    run_dir: Path,
    steps: int | None = None,
    resume: bool = False,
    given: Iterable[str] | None = None,
) -> None:
    """Train an encoder with ``config['loss']`` on ``config['dataset']`` (see the module docstring).

    With ``resume``, the run continues under its saved config, changed only where ``config`` asks
    for it at the keys of ``given`` (the keys the command line set; None: every key of ``config``)
    and only within :data:`clrl.config.RESUMABLE_KEYS`; any other change is refused.
    """
    check_config(config)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    changed: dict[str, tuple[Any, Any]] = {}
    if resume:
        saved = load_checkpoint(checkpoint_path, job=job)
        config, changed = resume_config(
            job, saved.config, config, given, source=str(checkpoint_path), complete=with_model_resolved
        )
    config = with_model_resolved(config)
    seed_everything(config["seed"])
    set_threads(config["threads"])
    device = pick_device(config["device"])
    data = load_benchmark_data(config)
    train_cfg = config["train"]
    loss_class = LOSSES[config["loss"]]

    in_dist = in_distribution_mask(data.train_y, config["ood_classes"])
    train_x = torch.from_numpy(data.train_x[in_dist])
    targets = None
    if loss_class.needs_labels:
        factor, _, _ = standardized_factor(data)
        targets = torch.from_numpy(factor[in_dist]).float()
    test_in = in_distribution_mask(data.test_y, config["ood_classes"])
    batch_size = min(train_cfg["batch_size"], len(train_x))
    if batch_size < 2:
        raise ConfigError("training needs at least 2 in-distribution samples per batch")
    local_batch_size = distributed.local_batch_size(batch_size, "train.batch_size")
    share = slice(distributed.rank() * local_batch_size, (distributed.rank() + 1) * local_batch_size)
    steps_per_epoch = len(train_x) // batch_size
    total_steps = steps if steps is not None else train_cfg["epochs"] * steps_per_epoch

    check_model_size(lambda: build_model(config["model"], data), config["model"])
    model = distributed.sync_batch_norm(build_model(config["model"], data)).to(device)
    key_model = copy.deepcopy(model).requires_grad_(False) if loss_class.needs_momentum_encoder else None
    loss_fn = build_loss_module(config).to(device)
    parameters = list(model.parameters()) + [p for p in loss_fn.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=train_cfg["lr"], weight_decay=train_cfg["weight_decay"])
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_decay(step, total_steps, total_steps)
    )
    parts = TrainingParts(model, key_model, loss_fn, optimizer, schedule)
    # A flip would change the targets (the digits' slant, MNIST-1D's shear) a labelled loss regresses.
    views = build_two_views(
        config["dataset"], data.sample_shape, config["augment"], keep_orientation=loss_class.needs_labels
    )

    step = 0
    saved_step = None  # the step of the newest finite checkpoint of this run: the one a stop names
    if resume:
        parts.load(saved.state)
        if "train.lr" in changed:  # the schedule scales the new base rate from here on
            schedule.base_lrs = [train_cfg["lr"]] * len(optimizer.param_groups)
            for group in optimizer.param_groups:
                group["initial_lr"] = train_cfg["lr"]
        # the rate of this step under the schedule as it is now (another length, another base rate)
        for group, base_lr, rate in zip(
            optimizer.param_groups, schedule.base_lrs, schedule.lr_lambdas, strict=True
        ):
            group["lr"] = base_lr * rate(schedule.last_epoch)
        step = saved_step = saved.step
        if step >= total_steps:
            done = f"{checkpoint_path} is already at step {step} of {total_steps}; nothing to do"
            distributed.print_main(done)
            return
        distributed.print_main(resuming_line(run_dir, step, changed))
    if distributed.is_distributed():
        distributed.seed_rank(config["seed"], step)  # each rank its own augmentations
    projection = distributed.wrap(Projection(model))  # what trains; model is what evaluates and saves

    def save() -> None:
        nonlocal saved_step
        if distributed.is_main():
            save_checkpoint(checkpoint_path, job=job, step=step, config=config, state=parts.state())
        saved_step = step

    def save_and_say() -> str:
        save()
        return f"saved step {step} to {checkpoint_path}"

    def stop(what: str) -> UserError:
        return diverged(what, checkpoint_path, saved_step, "lower train.lr")

    writer = make_writer(run_dir, resumed_step=step if resume else None)
    diagnostics_x = data.test_x[test_in][: train_cfg["diagnostics_samples"]]
    progress = progress_bar(total_steps, step, f"{config['loss']} on {data.name}")
    window_start, window_steps = time.perf_counter(), 0
    model.train()
    loss_fn.train()  # stateful losses (queues, Adv-SSL's dual matrix) update in training mode
    try:
        with saved_on_interrupt(save_and_say) as stop_if_interrupted:
            while step < total_steps:
                stop_if_interrupted()  # under torchrun: all ranks together, at a step's start
                epoch, position = divmod(step, steps_per_epoch)
                indices = batch_order(len(train_x), batch_size, config["seed"], epoch)[position]
                batch = train_x[indices[share]].to(device)  # this rank's slice of the global batch
                view_1, view_2 = views(batch)
                z1 = distributed.gather(projection(view_1))
                if key_model is not None:
                    with torch.no_grad():
                        z2 = distributed.gather(key_model.project(view_2))
                else:
                    z2 = distributed.gather(projection(view_2))
                labels = targets[indices].to(device) if targets is not None else None
                loss = loss_fn(z1, z2, labels=labels)
                if not math.isfinite(loss.item()):
                    raise stop(f"loss became {loss.item()} at step {step + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                # a finite loss can still take a step to NaN weights (an infinite update)
                if (non_finite := first_non_finite(model.state_dict())) is not None:
                    raise stop(f"step {step + 1} made the weights non-finite: {non_finite}")
                if key_model is not None:
                    ema_update(key_model, model, train_cfg["momentum"])
                step += 1
                window_steps += 1
                progress.update(1)
                if step % train_cfg["log_every"] == 0:
                    writer.add_scalar("losses/train_loss", loss.item(), step)
                    writer.add_scalar("charts/SPS", window_steps / (time.perf_counter() - window_start), step)
                    window_start, window_steps = time.perf_counter(), 0
                    progress.set_postfix(loss=f"{loss.item():.3f}")
                epoch_done = step % steps_per_epoch == 0
                if distributed.is_main() and (
                    (epoch_done and (step // steps_per_epoch) % train_cfg["eval_every"] == 0)
                    or step == total_steps
                ):
                    accuracy = epoch_knn_accuracy(model, data, config, device)
                    writer.add_scalar("eval/knn_accuracy", accuracy, step)
                    for name, value in representation_diagnostics(
                        model, views, diagnostics_x, device
                    ).items():
                        writer.add_scalar(f"eval/{name}", value, step)
                    progress.set_postfix(loss=f"{loss.item():.3f}", knn=f"{accuracy:.3f}")
                if (epoch_done and (step // steps_per_epoch) % train_cfg["checkpoint_every"] == 0) or (
                    step == total_steps
                ):
                    save()
    finally:
        progress.close()
        writer.close()
    distributed.print_main(f"saved {checkpoint_path} (step {step})")
