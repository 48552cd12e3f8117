"""How far one PPO update moves the humanoid policy, for several fixed Adam step sizes.

Collects one rollout (8 envs x 256 steps, in this process) with the untrained policy of
configs/humanoid.yaml, or with a trained one (``--checkpoint``, its own config and observation
statistics), then, from the same weights and a fresh Adam each time, runs one update
(``ppo.n_epochs`` epochs of ``ppo.batch_size`` minibatches) per step size, with the auxiliary
InfoNCE term off and on. It prints ``train/approx_kl`` (SB3's estimate, mean over the last epoch)
and the clip fraction as a Markdown table.

    python benchmarks/ppo_step_size.py [--log-std-init -2.0]
    python benchmarks/ppo_step_size.py --checkpoint clrl/pretrained/humanoid_g1.pt --step-sizes 1e-6 1e-5 1e-4
"""

from __future__ import annotations

import argparse
import copy

import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import configure

from clrl.agents.checkpointing import read_agent, restore_model
from clrl.agents.training import build_model, make_vec_env, wrap_normalize
from clrl.cli import run_command
from clrl.config import load_config

N_ENVS, N_STEPS = 8, 256


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-std-init", type=float, default=-2.0, help="initial log std (untrained policy)")
    parser.add_argument("--checkpoint", help="probe this trained policy instead of an untrained one")
    parser.add_argument("--step-sizes", type=float, nargs="+", default=[1e-5, 1e-4, 3e-4], metavar="LR")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checkpoint = read_agent(args.checkpoint) if args.checkpoint else None
    config = checkpoint.config if checkpoint else load_config("humanoid")
    config["ppo"].update(n_steps=N_STEPS, desired_kl=None)
    venv = wrap_normalize(make_vec_env(config, N_ENVS, config["seed"], "dummy"), config)
    if checkpoint:
        model = restore_model(checkpoint, venv, n_steps=N_STEPS, desired_kl=None)
    else:
        config["agent"]["log_std_init"] = args.log_std_init
        model = build_model(config, venv, config["seed"])
    model.set_logger(configure(None, []))
    model._setup_learn(N_ENVS * N_STEPS, None)
    callback = CallbackList([])
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=N_STEPS)
    weights = copy.deepcopy(model.policy.state_dict())

    std = torch.exp(model.policy.log_std).mean()
    source = f"checkpoint {args.checkpoint} at {checkpoint.step} steps" if checkpoint else "untrained"
    print(f"{source}, mean std {std:.3f}, one rollout of {N_ENVS} x {N_STEPS}\n")
    print("| Adam step | approx. KL, aux off | approx. KL, InfoNCE weight 0.1 | clip fraction (off, on) |")
    print("|---:|---:|---:|---:|")
    for step_size in args.step_sizes:
        kls, clips = [], []
        for aux_weight in (0.0, 0.1):
            model.policy.load_state_dict(weights)
            model.policy.optimizer = model.policy.optimizer_class(model.policy.parameters(), lr=step_size)
            model.lr_schedule = lambda _, step_size=step_size: step_size
            model.aux_weight = aux_weight
            model.train()
            kls.append(model.logger.name_to_value["train/approx_kl"])
            clips.append(model.logger.name_to_value["train/clip_fraction"])
        print(f"| {step_size:g} | {kls[0]:.4f} | {kls[1]:.4f} | {clips[0]:.3f}, {clips[1]:.3f} |")
    venv.close()


if __name__ == "__main__":
    raise SystemExit(run_command(main, None))  # a bad checkpoint: one error line
