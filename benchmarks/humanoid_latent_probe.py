"""What the actor's latent knows (issue 23, item 7): linear probes from ``z`` to each privileged field.

The seed's claim rests on the contrastive loss making the history latent ``z`` carry the state the
simulator hides (friction, masses, motor strength, the delay, the terrain, the base velocity). This
measures it: each policy walks straight at 0.5 m/s (``eval.common_overrides``) with its training
dynamics on its training terrain mix at curriculum level ``--level`` (default 5 of 9: slopes of 12
degrees, 9 cm steps) for ``--episodes`` short episodes (``--seconds``: many episodes, so the
dynamics, drawn once per episode, take many values), and every ``--every``-th control step records
``z`` (latent arms), the normalised policy history (every arm) and the raw privileged vector. Ridge
regressions (scikit-learn, standardised inputs) fitted on the first half of the episodes, their
penalty chosen on the third quarter, predict each privileged field, from ``z`` and from the whole
history, on the last quarter; the table gives their R² (1: the field is a linear function of the
input; 0: no better than its mean; fields or parts of fields that do not vary over the test episodes
are left out). The history column is how much of a field a linear read of the actor's input reaches;
the ``z`` column how much of it the latent keeps. Proprio-only policies have no ``z``: their rows
give the history alone.

    python benchmarks/humanoid_latent_probe.py --checkpoint F [F ...] [--episodes 160] [--seconds 5]
        [--every 5] [--level 5]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from markdown_table import MarkdownTable
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from clrl.agents.evaluation import (
    LoadedPolicy,
    begin_policy_benchmark,
    loaded_policies,
    make_scenario_env,
    policy_benchmark_parser,
    policy_scenario,
)
from clrl.cli import run_command

#: The ridge penalties chosen from, on validation episodes.
ALPHAS = np.logspace(0, 4, 9)
#: An output whose standard deviation over the test steps is below this does not vary: left out.
CONSTANT = 1e-6


@dataclass
class ProbeData:
    """The recorded steps: ``latent`` is ``None`` for proprio-only policies."""

    latent: np.ndarray | None  # (N, latent_dim)
    history: np.ndarray  # (N, K * P), normalised as the policy saw it
    privileged: np.ndarray  # (N, Q), raw
    episode: np.ndarray  # (N,) the episode each step came from


def record(
    policy: LoadedPolicy,
    settings: dict[str, Any],
    overrides: list[str],
    episodes: int,
    seed: int,
    every: int,
    max_steps: int,
) -> tuple[ProbeData, list[tuple[str, int]]]:
    """Roll the deterministic policy out for ``episodes`` episodes of at most ``max_steps`` control
    steps and record every ``every``-th step; also returns the privileged fields (name, size) in
    their order."""
    scenario = policy_scenario(policy, settings, "probe", overrides)
    env = make_scenario_env(scenario)
    extractor = policy.model.policy.features_extractor
    latents, histories, privileged, episode_ids = [], [], [], []
    try:
        for episode in range(episodes):
            observation, _ = env.reset(seed=seed + episode)
            done, step = False, 0
            while not done:
                seen = policy.normalizer.normalize_obs(observation) if policy.normalizer else observation
                if step % every == 0:
                    histories.append(seen["policy"])
                    privileged.append(observation["privileged"])
                    episode_ids.append(episode)
                    if extractor.latent != "proprio":
                        with torch.no_grad():
                            batch = {key: torch.as_tensor(value[None]) for key, value in seen.items()}
                            latents.append(extractor.latent_z(batch)[0].numpy())
                action, _ = policy.model.predict(seen, deterministic=True)
                observation, _, terminated, truncated, _ = env.step(action)
                step += 1
                done = terminated or truncated or step >= max_steps
        fields = list(env.unwrapped.privileged_fields)
    finally:
        env.close()
    data = ProbeData(
        np.stack(latents) if latents else None,
        np.stack(histories),
        np.stack(privileged),
        np.asarray(episode_ids),
    )
    return data, fields


def probe_r2(features: np.ndarray, target: np.ndarray, split: np.ndarray) -> float | None:
    """R² on the test steps of a ridge regression of ``target`` on ``features``, over the outputs
    that vary there (``None`` if none does). ``split`` marks each step 0 (fit), 1 (choose the
    penalty) or 2 (test); whole episodes go to one part, so the steps of one episode, which share its
    dynamics, never inform the test."""
    test = split == 2
    varying = target[test].std(axis=0) > CONSTANT
    if not varying.any():
        return None
    target = target[:, varying]

    def fitted(alpha: float, rows: np.ndarray) -> Pipeline:
        return make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(features[rows], target[rows])

    fit, validate = split == 0, split == 1
    best = max(
        ALPHAS, key=lambda alpha: r2_score(target[validate], fitted(alpha, fit).predict(features[validate]))
    )
    model = fitted(best, split < 2)
    return float(r2_score(target[test], model.predict(features[test])))


def main(argv: list[str] | None = None) -> None:
    parser = policy_benchmark_parser(__doc__.splitlines()[0], episodes=160, seed=0, per="policy")
    parser.add_argument("--seconds", type=float, default=5.0, help="episodes end after this long")
    parser.add_argument("--every", type=int, default=5, help="record every N-th control step")
    parser.add_argument("--level", type=int, default=5, help="terrain curriculum level of every episode")
    args = parser.parse_args(argv)
    if args.every < 1 or args.seconds <= 0 or args.episodes < 4:
        parser.error(
            "--every must be >= 1, --seconds > 0 and --episodes >= 4 (half fit, a quarter each other part)"
        )
    settings = begin_policy_benchmark()
    table = MarkdownTable(
        ["policy (env steps)", "arm", "privileged field", "R² from z", "R² from history"], "lllrr"
    )
    table.print_header()
    for policy in loaded_policies(args.checkpoint):
        overrides = [f"terrain.initial_level={args.level}"]
        max_steps = round(args.seconds * float(policy.checkpoint.config["env"]["control_hz"]))
        data, fields = record(policy, settings, overrides, args.episodes, args.seed, args.every, max_steps)
        # half the episodes fit, a quarter choose the penalty, the last quarter test
        split = np.searchsorted([args.episodes // 2, (3 * args.episodes) // 4], data.episode, side="right")
        arm = policy.checkpoint.config["agent"]["latent"]
        start = 0
        for name, size in fields:
            target = data.privileged[:, start : start + size]
            start += size
            from_history = probe_r2(data.history, target, split)
            from_latent = None if data.latent is None else probe_r2(data.latent, target, split)
            cells = ["-" if r2 is None else f"{r2:.2f}" for r2 in (from_latent, from_history)]
            table.print_row(policy.label, arm, name, *cells)


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
