"""Left-right mirror augmentation of PPO minibatches (``ppo.mirror_augmentation``).

Isaac Lab's symmetry augmentation for rsl_rl (``rsl_rl.algorithms.PPO`` with
``symmetry_cfg.use_data_augmentation``): every minibatch of the rollout is doubled with its mirror
image, the mirrored observations of both groups and the mirrored actions
(:mod:`clrl.envs.humanoid.symmetry`), and the loss is taken over both halves. The mirrored samples
carry their originals' advantages, returns, value estimates and old log-probabilities.

Why the old log-probability is copied, not recomputed under the rollout policy at the mirrored
state (Isaac Lab copies it too): a mirrored sample ``(M s, M a)`` was not drawn from the rollout
policy ``pi_old(. | M s)`` but from its mirror image ``pi_old^M(a' | s') = pi_old(M a' | M s')``,
which gives ``M a`` at ``M s`` exactly the probability ``pi_old(a | s)``. With the copied value the
ratio ``pi(M a | M s) / pi_old(a | s)`` is the importance weight of the sample under the policy that
produced it, and the advantage (copied: in a mirror-symmetric task the mirrored policy's advantage
at ``(M s, M a)`` is the original's at ``(s, a)``) belongs to that policy, so the mirrored half is an
unbiased estimate of PPO's surrogate around ``pi_old^M``, clipped around it. Recomputing
``pi_old(M a | M s)`` would weight the samples by a policy that did not produce them, next to an
advantage of one that did. While the policy is not yet symmetric, the mirrored half's ratios start
away from 1: the clip then pulls the policy towards the mirror image of itself.

Observations reach the buffer normalised by ``VecNormalize`` (``(x - mean) / sqrt(var + eps)``,
clipped), whose statistics are not mirror-symmetric; the mirror is a signed permutation of the raw
values, so on normalised values it is the affine map ``x -> (sign * (x[index] * std[index] +
mean[index]) - mean) / std``, re-clipped, computed with the statistics at the start of each update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples
from stable_baselines3.common.vec_env import VecNormalize
from torch import Tensor

from clrl.envs.humanoid.symmetry import SignedPermutation


class _AffineMirror:
    """``y = clip(scale * x[..., index] + offset)`` on one observation group (or the actions)."""

    def __init__(self, permutation: SignedPermutation) -> None:
        self.permutation = permutation
        self.index = torch.as_tensor(permutation.index)
        self.set_statistics(None, None, 0.0, None)

    def set_statistics(
        self, mean: np.ndarray | None, var: np.ndarray | None, epsilon: float, clip: float | None
    ) -> None:
        """Normalisation ``(x - mean) / sqrt(var + epsilon)`` clipped to +-``clip`` (``None``: raw values)."""
        sign, index = self.permutation.sign, self.permutation.index
        if mean is None or var is None:
            scale, offset = sign, np.zeros(len(sign))
        else:
            std = np.sqrt(np.asarray(var, dtype=np.float64) + epsilon)
            mean = np.asarray(mean, dtype=np.float64)
            scale = sign * std[index] / std
            offset = (sign * mean[index] - mean) / std
        self.scale = torch.as_tensor(scale, dtype=torch.float32)
        self.offset = torch.as_tensor(offset, dtype=torch.float32)
        self.clip = clip

    def __call__(self, x: Tensor) -> Tensor:
        y = x[..., self.index.to(x.device)] * self.scale.to(x) + self.offset.to(x)
        return y if self.clip is None else torch.clamp(y, -self.clip, self.clip)


class MirrorAugmentation:
    """Doubles PPO minibatches with their mirror images (see the module docstring).

    Args:
        observation: the mirror of each observation group (``policy``, ``privileged``, ``scan``), on
            raw values.
        action: the mirror of the action vector.
    """

    def __init__(self, observation: Mapping[str, SignedPermutation], action: SignedPermutation) -> None:
        for name, permutation in (*observation.items(), ("action", action)):
            if not permutation.is_involution():
                raise ValueError(f"the mirror of {name!r} is not its own inverse")
        self.observation_maps = {key: _AffineMirror(permutation) for key, permutation in observation.items()}
        self.action_map = _AffineMirror(action)

    @classmethod
    def for_humanoid(cls, env_config: dict[str, Any]) -> MirrorAugmentation:
        """The mirror of the humanoid env ``env_config`` builds (one env is built to read it)."""
        from clrl.envs.humanoid import HumanoidEnv
        from clrl.envs.humanoid.symmetry import build_mirror

        env = HumanoidEnv(env_config)
        try:
            mirror = build_mirror(env)
        finally:
            env.close()
        return cls(mirror.groups, mirror.action)

    def set_normalizer(self, normalizer: VecNormalize | None) -> None:
        """Mirror observations in the units ``normalizer`` gives them now (``None``: raw values)."""
        for key, mirror in self.observation_maps.items():
            if normalizer is None or not normalizer.norm_obs or key not in (normalizer.norm_obs_keys or []):
                mirror.set_statistics(None, None, 0.0, None)
            else:
                rms = normalizer.obs_rms[key]
                mirror.set_statistics(rms.mean, rms.var, normalizer.epsilon, normalizer.clip_obs)

    def observations(self, observations: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The mirror image of a batch of (normalised) observations."""
        return {key: self.observation_maps[key](value) for key, value in observations.items()}

    def actions(self, actions: Tensor) -> Tensor:
        """The mirror image of a batch of actions."""
        return self.action_map(actions)

    def augment(self, samples: DictRolloutBufferSamples) -> DictRolloutBufferSamples:
        """The minibatch followed by its mirror image: ``2 B`` samples, the rollout's ``B`` first."""

        def twice(x: Tensor) -> Tensor:
            return torch.cat([x, x])

        mirrored = self.observations(samples.observations)
        return DictRolloutBufferSamples(
            observations={
                key: torch.cat([value, mirrored[key]]) for key, value in samples.observations.items()
            },
            actions=torch.cat([samples.actions, self.actions(samples.actions)]),
            old_values=twice(samples.old_values),
            old_log_prob=twice(samples.old_log_prob),
            advantages=twice(samples.advantages),
            returns=twice(samples.returns),
        )
