"""``LatentPPO.train`` is stable-baselines3's ``PPO.train`` with the auxiliary loss added; it follows
the release it was written against. If a new release changes ``PPO.train``, this fails, so the copy
is compared with the new one before the pin in pyproject.toml moves."""

import hashlib
import inspect

from stable_baselines3 import PPO

#: SHA-256 of ``inspect.getsource(PPO.train)`` in stable-baselines3 2.9.2.
UPSTREAM_TRAIN_SHA256 = "7c8d09940123242f0ac401c5ec2cc858b8bf3339f571c222382f048ffd8306ae"


def test_upstream_ppo_train_is_the_one_latent_ppo_follows():
    source = inspect.getsource(PPO.train)
    assert hashlib.sha256(source.encode()).hexdigest() == UPSTREAM_TRAIN_SHA256, (
        "stable-baselines3 changed PPO.train: port the change into clrl.agents.ppo.LatentPPO.train, "
        "then update this hash and the version pin"
    )
