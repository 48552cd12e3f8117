"""CRTR training for the puzzles: ``python -m clrl.train cube|sokoban``.

Reads top to bottom: build the task, encoder and optimizer from the config (or a checkpoint when
resuming; ``train.init_from`` starts the encoder from an earlier run's), then loop: sample a CRTR
batch (trajectories repeated R times, so negatives include states of the same trajectory), encode
anchors and futures with one encoder, take an Adam step on the CRTR loss (plus, with
``bellman.weight > 0``, the Bellman loss of :mod:`clrl.crtr.bellman`; with
``walk_regression.weight > 0``, the supervised yardstick of :mod:`clrl.crtr.walk_regression`; with
``child_ranking.weight > 0``, the nearer-child ranking of :mod:`clrl.crtr.child_ranking`; with
``move_ranking.weight > 0``, the move head of :mod:`clrl.crtr.move_ranking`), and log. With
``data.trajectories: beam`` the cube's trajectories are the learned beam's own solutions (expert
iteration, :mod:`clrl.crtr.expert_iteration`), built into the run dir before the first step.
The encoder trains in ``train.precision`` (:mod:`clrl.precision`: bfloat16 autocast where native).
Every ``eval_every`` steps it measures how well latent distance to the goal tracks moves-to-go (Spearman)
how often greedy latent descent solves puzzles and, for the cube, how often the best child of a
state at each exact distance is nearer, with an image of one rollout. Checkpoints are
atomic and never hold a non-finite number; Ctrl-C and SIGTERM save before exiting; a non-finite loss
or step stops the run with the last good checkpoint kept. A resumed run purges what the killed run
logged after its checkpoint from TensorBoard.

Under ``torchrun`` (:mod:`clrl.distributed`) each rank samples its own ``data.batch_size / N``
rows (whole trajectories of ``R`` rows) from its own stream, and the loss sees the latents of all
ranks, gathered with their gradients: the negatives and gradients of one process with the whole
batch. Rank 0 evaluates, logs and saves. The Bellman, walk-regression, child- and move-ranking terms
train in one process only.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from clrl import distributed
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
from clrl.crtr.bellman import (
    DistanceHead,
    GreedyPool,
    bellman_loss,
    bellman_targets,
    child_distances,
    scramble_states,
)
from clrl.crtr.child_ranking import (
    child_ranking_loss,
    child_ranking_losses,
    hardest,
    labelled_states,
    nearer_pick_rate,
    ranking_batch,
)
from clrl.crtr.expert_iteration import beam_from, prepare_beam_paths
from clrl.crtr.model import (
    CHECKPOINT_NAME,
    build_model,
    distance_to_own_goal,
    latent_heuristic,
    load_start_encoder,
    symmetric_mean,
)
from clrl.crtr.move_ranking import (
    MoveHead,
    MovePool,
    MoveScorer,
    MoveScores,
    move_ranking_loss,
)
from clrl.crtr.walk_regression import walk_regression_loss
from clrl.diagnostics import effective_rank
from clrl.envs.cube.symmetry import NUM_SYMMETRIES, symmetric_images
from clrl.errors import UserError
from clrl.losses.crtr import CRTR_SIMILARITIES, crtr_logits
from clrl.losses.infonce import DIRECTIONS, contrastive_accuracy, info_nce_from_logits
from clrl.losses.quasimetric import IQE_COMPONENTS
from clrl.losses.similarity import pairwise_similarity
from clrl.planners import greedy
from clrl.planners.goal_table import MAX_GOAL_RADIUS, cube_goal_table
from clrl.precision import AutocastForward, check_precision
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

#: The range of every numeric key both puzzle jobs read (configs/cube.yaml, configs/sokoban.yaml).
BOUNDS = {
    "data.repetition_factor": AT_LEAST_ONE,
    "data.gamma": Bound(0, low_open=True, high=1),
    "data.batch_size": AT_LEAST_ONE,
    "model.blocks": AT_LEAST_ONE,
    "model.latent_dim": AT_LEAST_ONE,
    "loss.crtr_weight": Bound(0),
    "loss.temperature": POSITIVE,
    "train.steps": AT_LEAST_ONE,
    "train.lr": ADAM_LEARNING_RATE,
    "train.lr_anneal_steps": Bound(0),
    "train.log_every": AT_LEAST_ONE,
    "train.eval_every": AT_LEAST_ONE,
    "train.checkpoint_every": AT_LEAST_ONE,
    "eval.trajectories": AT_LEAST_ONE,
    "eval.greedy_puzzles": AT_LEAST_ONE,
    "eval.greedy_max_moves": AT_LEAST_ONE,
}
#: ... and those only one of them has.
JOB_BOUNDS = {
    "cube": {
        "data.trajectory_length": AT_LEAST_ONE,
        "model.width": AT_LEAST_ONE,
        "bellman.weight": Bound(0),
        "walk_regression.weight": Bound(0),
        "eval.greedy_scramble": AT_LEAST_ONE,
        "eval.nearer_child_symmetries": Bound(1, high=NUM_SYMMETRIES),
    },
    "sokoban": {"data.generated_levels": AT_LEAST_ONE, "model.channels": AT_LEAST_ONE},
}
#: Keys that matter only when their loss is on.
BELLMAN_BOUNDS = {
    **{
        f"bellman.{key}": AT_LEAST_ONE
        for key in ("batch_size", "max_depth", "table_radius", "target_every", "greedy_restart_every")
    },
    "bellman.greedy_states": Bound(0),
    "bellman.search_depth": Bound(0),
    "bellman.target_symmetries": Bound(1, high=NUM_SYMMETRIES),
    "bellman.prediction_symmetries": Bound(1, high=NUM_SYMMETRIES),
}
WALK_REGRESSION_BOUNDS = {f"walk_regression.{key}": AT_LEAST_ONE for key in ("batch_size", "max_depth")}
#: The child ranking's labels come from a search into the radius-7 table: to 12 moves (12 * 11^4
#: states at its last layer), as :mod:`clrl.planners.exact_distance` keeps cheap.
CHILD_RANKING_BOUNDS = {
    "child_ranking.batch_size": AT_LEAST_ONE,
    "child_ranking.min_depth": AT_LEAST_ONE,
    "child_ranking.max_depth": Bound(1, high=MAX_GOAL_RADIUS + 5),
    "child_ranking.temperature": POSITIVE,
    "child_ranking.symmetries": Bound(1, high=NUM_SYMMETRIES),
    "child_ranking.mined_from": Bound(0),
}
#: The move head's labels come from the same search as the child ranking's.
MOVE_RANKING_BOUNDS = {
    **{
        f"move_ranking.{key}": AT_LEAST_ONE
        for key in ("batch_size", "fresh_states", "pool_size", "initial_states", "min_depth", "hidden")
    },
    "move_ranking.max_depth": Bound(1, high=MAX_GOAL_RADIUS + 5),
    "move_ranking.temperature": POSITIVE,
}
#: The cube's ``data.trajectories: beam`` keys (expert iteration, :mod:`clrl.crtr.expert_iteration`).
BEAM_BOUNDS = {
    **{f"data.beam_{key}": AT_LEAST_ONE for key in ("cubes", "scramble", "width", "budget")},
    "data.beam_goal_radius": Bound(0, high=MAX_GOAL_RADIUS),
}


def loss_weights(config: dict[str, Any]) -> dict[str, float]:
    """The weight of each loss term a run trains (``crtr_loss``, ``bellman_loss``,
    ``walk_regression_loss``, ``child_ranking_loss``, ``move_ranking_loss``); a section the job lacks
    weighs 0."""
    return {"crtr_loss": config["loss"]["crtr_weight"]} | {
        f"{section}_loss": config[section]["weight"] if section in config else 0.0
        for section in ("bellman", "walk_regression", "child_ranking", "move_ranking")
    }


def check_config(job: str, config: dict[str, Any]) -> None:
    """Refuse values no run can use (:class:`ConfigError`, exit code 2), before anything is built."""
    check_bounds(config, BOUNDS | JOB_BOUNDS.get(job, {}))
    data = config["data"]
    if data["batch_size"] % data["repetition_factor"] != 0:
        raise ConfigError(
            f"data.batch_size ({data['batch_size']}) must be a multiple of "
            f"data.repetition_factor ({data['repetition_factor']})"
        )
    loss = config["loss"]
    for key, allowed in (("similarity", CRTR_SIMILARITIES), ("direction", DIRECTIONS)):
        if loss[key] not in allowed:
            raise ConfigError(f"loss.{key} must be one of {', '.join(allowed)}, got {loss[key]!r}")
    check_precision(config["train"]["precision"], "train.precision")
    latent_dim = config["model"]["latent_dim"]
    if loss["similarity"] == "neg_mrn" and latent_dim % 2:
        raise ConfigError(f"loss.similarity=neg_mrn needs an even model.latent_dim, got {latent_dim}")
    if loss["similarity"] == "neg_iqe" and latent_dim % IQE_COMPONENTS:
        raise ConfigError(f"loss.similarity=neg_iqe needs model.latent_dim a multiple of {IQE_COMPONENTS}")
    if job == "cube" and data["trajectories"] == "beam":
        check_bounds(config, BEAM_BOUNDS)
        if data["beam_budget"] < data["beam_width"]:
            raise ConfigError(
                f"data.beam_budget ({data['beam_budget']}) must be at least data.beam_width "
                f"({data['beam_width']}): the beam searches budget // width depths"
            )
        beam_from(config)  # a checkpoint to search with, or the line that says what to set
    weights = loss_weights(config)
    if sum(weights.values()) == 0:
        raise ConfigError(
            "loss.crtr_weight, bellman.weight, walk_regression.weight, child_ranking.weight and "
            "move_ranking.weight must not all be 0"
        )
    for section, bounds in (
        ("bellman", BELLMAN_BOUNDS),
        ("walk_regression", WALK_REGRESSION_BOUNDS),
        ("child_ranking", CHILD_RANKING_BOUNDS),
        ("move_ranking", MOVE_RANKING_BOUNDS),
    ):
        if weights[f"{section}_loss"] > 0:
            check_bounds(config, bounds)
            if distributed.world_size() > 1:
                raise ConfigError(f"{section}.weight > 0 trains in one process only; run it without torchrun")
    for section in ("child_ranking", "move_ranking"):
        ranking = config.get(section, {})
        if weights[f"{section}_loss"] > 0 and ranking["min_depth"] > ranking["max_depth"]:
            raise ConfigError(
                f"{section}.min_depth ({ranking['min_depth']}) must be at most {section}.max_depth "
                f"({ranking['max_depth']})"
            )
    if weights["move_ranking_loss"] > 0:
        if config["model"].get("encoder") != "resmlp":
            raise ConfigError(
                "move_ranking.weight > 0 needs model.encoder: resmlp (the head reads its trunk)"
            )
        if config["model"].get("canonical"):  # every image one input, but each image's moves its own
            raise ConfigError("move_ranking.weight > 0 cannot train on model.canonical inputs")


def latent_scores(encoder: torch.nn.Module, features: torch.Tensor, goal: torch.Tensor, similarity: str):
    """``(N,)`` latent scores ``-sim(phi(s), phi(goal))`` of the states, then the goal, encoded together."""
    latents = encoder(torch.cat([features, goal]))
    return -pairwise_similarity(latents[:-1], latents[-1:], similarity)[:, 0]


def crtr_batch_loss(
    model: torch.nn.Module, task, anchors: np.ndarray, futures: np.ndarray, loss_cfg: dict[str, Any], device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The CRTR loss of the global batch, from this rank's share of it.

    ``anchors``, ``futures``: ``(b, *S)`` states, this rank's ``b = B / N`` rows (whole groups of
    ``R``); encoded in one pass of ``model``, then gathered from all ranks with their gradients
    (:func:`clrl.distributed.gather`) into the ``(B, d)`` anchor latents, which are returned with the
    ``(B, B)`` logits and the scalar loss.
    """
    latents = model(task.featurize(np.concatenate([anchors, futures])).to(device))
    anchor_latents, future_latents = (distributed.gather(part) for part in latents.chunk(2))
    logits = crtr_logits(
        anchor_latents,
        future_latents,
        similarity=loss_cfg["similarity"],
        temperature=loss_cfg["temperature"],
    )
    return info_nce_from_logits(logits, loss_cfg["direction"]), logits, anchor_latents


def train(
    job: str,
    config: dict[str, Any],
    *,
    run_dir: Path,
    steps: int | None,
    resume: bool,
    given: Iterable[str] | None = None,
) -> None:
    """Train the puzzle encoder of ``job`` into ``run_dir`` (see the module docstring).

    ``steps`` (``--steps``) stands for ``train.steps``, so the checkpoint records the run's length.
    With ``resume``, the run continues under its saved config, changed only where ``config`` asks
    for it at the keys of ``given`` (the keys the command line set; None: every key of ``config``)
    and only within :data:`clrl.config.RESUMABLE_KEYS`; any other change is refused.
    """
    checkpoint_path = run_dir / CHECKPOINT_NAME
    check_config(job, config)
    config = copy.deepcopy(config)
    if steps is not None:
        config["train"]["steps"] = steps
        given = None if given is None else {*given, "train.steps"}
    changed: dict[str, tuple[Any, Any]] = {}
    if resume:
        saved = load_checkpoint(checkpoint_path, job=job)
        config, changed = resume_config(job, saved.config, config, given, source=str(checkpoint_path))
        check_config(job, config)
    data = config["data"]
    batch_size = distributed.local_batch_size(
        data["batch_size"], "data.batch_size", data["repetition_factor"], "data.repetition_factor"
    )
    check_model_size(lambda: build_model(job, config)[1], config["model"])
    total_steps = config["train"]["steps"]
    train_cfg, loss_cfg = config["train"], config["loss"]

    seed_everything(config["seed"])
    device = pick_device(config["device"])
    task, encoder = build_model(job, config)
    encoder.to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=train_cfg["lr"])
    weight_of = loss_weights(config)
    # cube only: the Bellman targets need the goal table, the walk lengths the cube's random walks
    bellman = config["bellman"] if weight_of["bellman_loss"] > 0 else None
    walk_regression = config["walk_regression"] if weight_of["walk_regression_loss"] > 0 else None
    child_ranking = config["child_ranking"] if weight_of["child_ranking_loss"] > 0 else None
    move_ranking = config["move_ranking"] if weight_of["move_ranking_loss"] > 0 else None
    head = None
    if bellman is not None or walk_regression is not None or child_ranking is not None:
        if job != "cube":
            raise UserError(
                "bellman, walk_regression and child_ranking train the cube only; set their weights to 0"
            )
        head = DistanceHead().to(device)  # reads moves to go off the latent score
        optimizer.add_param_group({"params": head.parameters()})
        goal_features = task.featurize(task.goals(None)).to(device)
    if bellman is not None:
        table = cube_goal_table(bellman["table_radius"])
    if child_ranking is not None or move_ranking is not None:
        ranking_table = cube_goal_table(MAX_GOAL_RADIUS)
    move_head = move_scorer = move_pool = None
    if move_ranking is not None:  # check_config: the cube's residual MLP
        move_head = MoveHead(config["model"]["width"], move_ranking["hidden"]).to(device)
        move_scorer = MoveScorer(encoder, move_head)
        optimizer.add_param_group({"params": move_head.parameters()})
        move_pool = MovePool(move_ranking["pool_size"])
    rng = np.random.default_rng(config["seed"])
    step = 0
    saved_step = None  # the step of the newest finite checkpoint of this run: the one a stop names
    if resume:
        encoder.load_state_dict(saved.state["encoder"])
        if head is not None and "distance_head" in saved.state:
            head.load_state_dict(saved.state["distance_head"])
        if move_head is not None:
            move_head.load_state_dict(saved.state["move_head"])
            move_pool.load_state_dict(saved.state["move_pool"])
        optimizer.load_state_dict(saved.state["optimizer"])
        rng.bit_generator.state = saved.state["numpy_rng"]
        torch.set_rng_state(saved.state["torch_rng"])
        step = saved_step = saved.step
        distributed.print_main(resuming_line(run_dir, step, changed))
    elif train_cfg["init_from"] is not None:
        # Fine-tuning: the weights of an earlier run, a fresh optimizer, steps counted from 0.
        start = load_start_encoder(job, config, encoder)
        if head is not None and "distance_head" in start.state:
            head.load_state_dict(start.state["distance_head"])
        if move_head is not None and "move_head" in start.state:
            move_head.load_state_dict(start.state["move_head"])
    if distributed.is_distributed():
        rng = distributed.seed_rank(config["seed"], step)
    # what trains: the encoder's forward pass in train.precision (bfloat16: 1.3-2.1x the steps/s on a
    # CPU with AVX-512 BF16), wrapped for torchrun; encoder itself evaluates and saves, in float32
    fast_encoder = AutocastForward(encoder, train_cfg["precision"], device)
    model = distributed.wrap(fast_encoder)
    if move_head is not None:

        def labelled_move_batch(count: int) -> tuple[np.ndarray, np.ndarray]:
            """``count`` walk states' exact labels: which quarter turns lead one move nearer."""
            depths = move_ranking["min_depth"], move_ranking["max_depth"]
            return labelled_states(rng, ranking_table, count, *depths)

        fast_move_scorer = AutocastForward(move_scorer, train_cfg["precision"], device)
        if move_pool.size == 0:  # a fresh pool (a resumed one is saved): labelled before the first step
            move_pool.add(*labelled_move_batch(move_ranking["initial_states"]))

    def image_distances(
        encoder: torch.nn.Module, distance_head: torch.nn.Module, states: np.ndarray, count: int
    ) -> torch.Tensor:
        """``(count, N)``: the states' distances read on ``count`` random symmetric images of each; their
        mean over images is the distance the planners read (planners.SymmetricMean). A canonical
        encoder gives all images one score, so it reads one image."""
        count = 1 if task.canonical else count
        if count > 1:
            states = symmetric_images(states, rng.choice(NUM_SYMMETRIES, size=count, replace=False))
        scores = latent_scores(
            encoder, task.featurize(states).to(device), goal_features, loss_cfg["similarity"]
        )
        return distance_head(scores).reshape(count, -1)

    def ranked_children(children: np.ndarray) -> torch.Tensor:
        """``(N, A)``: the distances of ``(N, A, ...)`` children as the ranking reads them, each its
        mean over ``child_ranking.symmetries`` random images."""
        flat = children.reshape(-1, *children.shape[2:])
        ranked = image_distances(fast_encoder, head, flat, child_ranking["symmetries"])
        return ranked.mean(dim=0).view(children.shape[:2])

    if bellman is not None:
        target_encoder, target_head = copy.deepcopy(encoder).eval(), copy.deepcopy(head)
        fast_target_encoder = AutocastForward(target_encoder, train_cfg["precision"], device)
        if resume and "target_encoder" in saved.state:
            target_encoder.load_state_dict(saved.state["target_encoder"])
            target_head.load_state_dict(saved.state["target_head"])
        pool = None
        if bellman["greedy_states"] > 0:
            restart_every = bellman["greedy_restart_every"]
            if resume and "greedy_pool" in saved.state:
                pool = GreedyPool(saved.state["greedy_pool"].numpy(), restart_every)
            else:
                pool = GreedyPool.of_random_cubes(rng, bellman["greedy_states"], restart_every)

        @torch.no_grad()
        def target_distance(children: np.ndarray) -> np.ndarray:
            # a steadier target: the mean over target_symmetries images
            distances = image_distances(
                fast_target_encoder, target_head, children, bellman["target_symmetries"]
            )
            return distances.cpu().numpy().mean(axis=0)

    def weights() -> dict[str, Any]:
        trained = {"encoder": encoder.state_dict()}
        trained |= {"distance_head": head.state_dict()} if head is not None else {}
        return trained | ({"move_head": move_head.state_dict()} if move_head is not None else {})

    def save() -> None:
        nonlocal saved_step
        state = weights() | {
            "optimizer": optimizer.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        if bellman is not None:
            state |= {"target_encoder": target_encoder.state_dict(), "target_head": target_head.state_dict()}
            if pool is not None:
                state["greedy_pool"] = torch.from_numpy(pool.states.copy())
        if move_pool is not None:
            state["move_pool"] = move_pool.state_dict()
        if distributed.is_main():
            save_checkpoint(checkpoint_path, job=job, step=step, config=config, state=state)
        saved_step = step

    def stop(what: str) -> UserError:
        return diverged(what, checkpoint_path, saved_step, "lower train.lr")

    with distributed.main_first():  # a dataset the task builds is cached in the run dir once
        if job == "cube" and data["trajectories"] == "beam" and distributed.is_main():
            prepare_beam_paths(config, run_dir)  # expert iteration: the learned beam's own solutions
        task.prepare(run_dir)
    if distributed.is_main():
        heldout = task.heldout(config["seed"], config["eval"]["trajectories"])
        reach_suite = task.reach_suite(config["seed"])
    writer = make_writer(run_dir, resumed_step=step if resume else None)
    progress = progress_bar(total_steps, step, f"train {job}")
    window_start, window_steps = time.perf_counter(), 0

    def save_and_say() -> str:
        save()
        return f"saved step {step} to {checkpoint_path}"

    try:
        with saved_on_interrupt(save_and_say) as stop_if_interrupted:
            while step < total_steps:
                stop_if_interrupted()  # under torchrun: all ranks together, at a step's start
                terms = {}
                if loss_cfg["crtr_weight"] > 0:
                    anchors, futures = task.sample_batch(
                        rng, batch_size, data["repetition_factor"], data["gamma"]
                    )
                    terms["crtr_loss"], logits, anchor_latents = crtr_batch_loss(
                        model, task, anchors, futures, loss_cfg, device
                    )
                if bellman is not None:
                    states, walk_lengths = scramble_states(rng, bellman["batch_size"], bellman["max_depth"])
                    targets = bellman_targets(
                        table, states, target_distance, walk_lengths, bellman["search_depth"]
                    )
                    if pool is not None:  # the pool's cubes lie outside the table: 1 + min over children
                        children, distances = child_distances(table, pool.states, target_distance)
                        pool_targets = 1.0 + distances.min(axis=1)
                        states = np.concatenate([states, pool.states])
                        targets = np.concatenate([targets, pool_targets])
                        pool_restarts = pool.step(rng, children, distances, table.radius)
                    targets = torch.from_numpy(targets).to(device)
                    # the trained distance, too, may be a mean over images: fitted as greedy reads it
                    predicted = image_distances(
                        fast_encoder, head, states, bellman["prediction_symmetries"]
                    ).mean(dim=0)
                    terms["bellman_loss"] = bellman_loss(predicted, targets)
                if walk_regression is not None:
                    states, walk_lengths = scramble_states(
                        rng, walk_regression["batch_size"], walk_regression["max_depth"]
                    )
                    scores = latent_scores(
                        fast_encoder, task.featurize(states).to(device), goal_features, loss_cfg["similarity"]
                    )
                    terms["walk_regression_loss"] = walk_regression_loss(
                        head(scores), torch.from_numpy(walk_lengths).to(device)
                    )
                if child_ranking is not None:
                    batch, mined = child_ranking["batch_size"], child_ranking["mined_from"]
                    children, nearer = ranking_batch(
                        rng,
                        ranking_table,
                        max(batch, mined),
                        child_ranking["min_depth"],
                        child_ranking["max_depth"],
                    )
                    if mined > batch:  # train on the states the ranking now gets most wrong
                        with torch.no_grad():
                            losses = child_ranking_losses(
                                ranked_children(children),
                                torch.from_numpy(nearer).to(device),
                                child_ranking["temperature"],
                            )
                        kept = hardest(losses, batch)
                        children, nearer = children[kept], nearer[kept]
                    ranked = ranked_children(children)
                    nearer = torch.from_numpy(nearer).to(device)
                    terms["child_ranking_loss"] = child_ranking_loss(
                        ranked, nearer, child_ranking["temperature"]
                    )
                if move_ranking is not None:
                    move_pool.add(*labelled_move_batch(move_ranking["fresh_states"]))
                    images, moves_nearer = move_pool.sample(rng, move_ranking["batch_size"])
                    move_logits = fast_move_scorer(task.featurize(images).to(device))
                    moves_nearer = torch.from_numpy(moves_nearer).to(device)
                    terms["move_ranking_loss"] = move_ranking_loss(
                        move_logits, moves_nearer, move_ranking["temperature"]
                    )
                loss = sum(weight_of[name] * term for name, term in terms.items())
                if not torch.isfinite(loss):
                    raise stop(f"loss became {loss.item()} at step {step + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # a resumed run keeps Adam's moments and takes its own step's rate (another train.lr too)
                anneal = cosine_decay(step, total_steps, train_cfg["lr_anneal_steps"])
                learning_rate = train_cfg["lr"] * anneal
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate
                optimizer.step()
                # a finite loss can still take a step to NaN weights (an infinite update)
                if (non_finite := first_non_finite(weights())) is not None:
                    raise stop(f"step {step + 1} made the weights non-finite: {non_finite}")
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
                        if pool is not None:
                            writer.add_scalar(
                                "charts/greedy_pool_target_mean", float(pool_targets.mean()), step
                            )
                            writer.add_scalar("charts/greedy_pool_restarts", pool_restarts, step)
                    if child_ranking is not None:
                        writer.add_scalar(
                            "charts/child_ranking_nearer_rate", nearer_pick_rate(ranked, nearer).item(), step
                        )
                    if move_ranking is not None:
                        picked = nearer_pick_rate(-move_logits.detach().float(), moves_nearer)
                        writer.add_scalar("charts/move_ranking_nearer_rate", picked.item(), step)
                        writer.add_scalar("charts/move_pool_size", move_pool.size, step)
                    writer.add_scalar("charts/learning_rate", learning_rate, step)
                    writer.add_scalar("charts/SPS", window_steps / seconds, step)
                    progress.set_postfix(loss=f"{loss.item():.3f}")
                    window_start, window_steps = time.perf_counter(), 0
                if distributed.is_main() and (step % train_cfg["eval_every"] == 0 or step == total_steps):
                    metrics, frames = evaluate_encoder(
                        task, encoder, config, heldout, device, reach_suite, move_scorer
                    )
                    for name, value in metrics.items():
                        writer.add_scalar(f"eval/{name}", value, step)
                    writer.add_image("eval/greedy_rollout", frames, step, dataformats="HWC")
                    encoder.train()
                    if move_head is not None:
                        move_head.train()
                if step % train_cfg["checkpoint_every"] == 0 or step == total_steps:
                    save()
    finally:
        progress.close()
        writer.close()
    distributed.print_main(f"saved {checkpoint_path} (step {step})")


def evaluate_encoder(
    task,
    encoder: torch.nn.Module,
    config: dict[str, Any],
    heldout,
    device,
    reach_suite: dict[int, np.ndarray] | None = None,
    move_scorer: torch.nn.Module | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """Spearman correlation of latent distance with moves-to-go, greedy solve rate, one rollout image,
    and the nearer-child rate at each exact distance of ``reach_suite`` (states by distance); with a
    ``move_scorer`` (:class:`~clrl.crtr.move_ranking.MoveScorer`), also the rate of its best move."""
    eval_cfg = config["eval"]
    encoder.eval()
    puzzles = task.eval_puzzles(config["seed"], eval_cfg)
    metrics = {}
    if reach_suite:
        latent = latent_heuristic(task, encoder, config, None, device)
        readings = {"nearer_child_rate": latent}
        images = eval_cfg["nearer_child_symmetries"]
        if images > 1:  # as greedy reads the distance: its mean over the state's symmetric images
            readings[f"nearer_child_rate_{images}images"] = symmetric_mean(task, latent, images)
        for name, heuristic in readings.items():
            rates = task.nearer_child_rates(heuristic, reach_suite)
            metrics |= {f"{name}_d{distance}": rate for distance, rate in rates.items()}
        if move_scorer is not None:
            for count in sorted({1, images}):
                name = "move_head_nearer_rate" + (f"_{count}images" if count > 1 else "")
                scores = MoveScores(move_scorer, task.featurize, count, device)
                rates = task.nearer_move_rates(scores, reach_suite)
                metrics |= {f"{name}_d{distance}": rate for distance, rate in rates.items()}
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
    metrics |= {"spearman": float(correlation), "greedy_solve_rate": len(solved) / len(results)}
    if solved:  # a mean over no solutions is no number: TensorBoard shows the curve where it has one
        metrics["greedy_solution_length"] = float(np.mean([r.length for r in solved]))
    return metrics, rollout_strip(task, puzzles[0], results[0].actions[:7])


def rollout_strip(task, start: np.ndarray, actions: list[int]) -> np.ndarray:
    """Frames of a rollout side by side: the start and the states after each action."""
    frames = [task.render(start)]
    state = start
    for action in actions:
        state = task.domain.children(state[None])[0][0, action]
        frames.append(task.render(state))
    return np.concatenate(frames, axis=1)
