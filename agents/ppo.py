"""PPO whose loss carries the policy's auxiliary latent loss (InfoNCE or regression), weighted.

Stable-Baselines3 keeps rollout collection, the rollout buffer, VecEnvs, callbacks, logging and
save/load; an algorithm owns only ``train()``. :class:`LatentPPO.train` is SB3's PPO update with
one addition per minibatch::

    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss + aux_weight * aux_loss

where ``aux_loss`` comes from :meth:`ContrastiveActorCriticPolicy.auxiliary_loss`, and, optionally,
the mirror augmentation below (``tests/agents/test_ppo_upstream.py`` pins the SB3 release it
follows; without both it is SB3's update weight for weight, ``tests/agents/test_ppo_objective.py``).

With ``desired_kl`` set, the Adam step size adapts after every minibatch as in rsl_rl's PPO (the
legged-locomotion trainer of legged_gym): divided by 1.5 when the minibatch's approximate KL
divergence from the rollout policy exceeds ``2 * desired_kl``, multiplied by 1.5 when it falls
below ``desired_kl / 2``, kept in [1e-5, 1e-2]. A fixed step size that suits the first updates
overshoots later ones as the action noise shrinks (the KL of a Gaussian policy grows with the
squared mean shift over the variance), and the clip then discards most of each minibatch.

With a ``mirror`` (:class:`~clrl.agents.symmetry.MirrorAugmentation`, ``ppo.mirror_augmentation``)
each minibatch is doubled with its left-right mirror image before the loss (Isaac Lab's symmetry
augmentation): the policy, value and entropy terms are taken over both halves; the auxiliary loss
stays on the rollout's own samples (its batch of negatives is the minibatch, as without it); the
approximate KL that adapts the step size, stops an update (``target_kl``) and is logged as
``train/approx_kl`` is the rollout half's, since the mirrored half's ratios measure how far the
policy is from its own mirror image, logged as ``train/mirror_approx_kl``. Advantages are
normalised over the doubled minibatch, as SB3 normalises any minibatch: the same mean as over the
rollout half, and a standard deviation ``sqrt((2B - 2) / (2B - 1))`` times its (0.9995 at B = 512;
rsl_rl normalises before doubling).

With ``precision="bfloat16"`` the networks' forward (and so backward) passes of the update run
under bfloat16 autocast, as the puzzles' encoders train (:mod:`clrl.precision`): the weights, Adam's
state, the log-probabilities, the losses and the auxiliary loss's latent comparisons stay float32
(the values and ``z`` come back as float32; the Gaussian's log-probability is taken in float32 of a
mean the action layer computed in bfloat16). The rollouts keep float32, so the update's first
probability ratios start within bfloat16 rounding of 1 rather than at 1.

Besides SB3's
``train/*`` scalars it logs ``losses/contrastive_loss`` and ``losses/contrastive_accuracy``
(contrastive mode) or ``losses/regression_loss`` (regression mode), averaged over the update.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.utils import explained_variance
from torch.nn import functional as F

from clrl.agents.policy import ContrastiveActorCriticPolicy
from clrl.agents.symmetry import MirrorAugmentation

MIN_ADAPTIVE_LR, MAX_ADAPTIVE_LR = 1e-5, 1e-2


class LatentPPO(PPO):
    """SB3 PPO plus ``aux_weight`` times the policy's auxiliary latent loss.

    Args:
        aux_weight: weight of the auxiliary loss in the minibatch loss (0 switches it off).
        desired_kl: target approximate KL per minibatch of the adaptive step size; None keeps
            SB3's ``learning_rate`` (schedule).
        mirror: doubles each minibatch with its mirror image (None: no augmentation). Not saved
            with the model: the trainer passes it again on resume, from its config.
        precision: ``"float32"`` or ``"bfloat16"`` (resolved, see :func:`clrl.precision.resolve_precision`),
            the number format of the update's forward passes. Not saved either: it comes from the
            config (``train.precision``).
        *args, **kwargs: as for :class:`stable_baselines3.PPO`; the policy must be a
            :class:`ContrastiveActorCriticPolicy`.
    """

    policy: ContrastiveActorCriticPolicy
    #: Adam's step and the gradient clip as multi-tensor (foreach) kernels (the same weights, less CPU)
    multi_tensor_kernels = True

    def __init__(
        self,
        *args: Any,
        aux_weight: float = 0.1,
        desired_kl: float | None = None,
        mirror: MirrorAugmentation | None = None,
        precision: str = "float32",
        **kwargs: Any,
    ) -> None:
        if desired_kl is not None and desired_kl <= 0:
            raise ValueError(f"ppo.desired_kl must be positive (or null for a fixed step), got {desired_kl}")
        self.aux_weight = aux_weight
        self.desired_kl = desired_kl
        self.mirror = mirror
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be float32 or bfloat16 (resolved), got {precision!r}")
        self.precision = precision
        super().__init__(*args, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "mirror", "precision"]

    def adapt_learning_rate(self, approx_kl: float) -> None:
        """rsl_rl's rule. The step size lives in the optimizer, so saving and resuming keep it."""
        for group in self.policy.optimizer.param_groups:
            if approx_kl > 2.0 * self.desired_kl:
                group["lr"] = max(MIN_ADAPTIVE_LR, group["lr"] / 1.5)
            elif approx_kl < 0.5 * self.desired_kl:
                group["lr"] = min(MAX_ADAPTIVE_LR, group["lr"] * 1.5)

    def train(self) -> None:
        """One PPO update over the rollout buffer (SB3's algorithm) with the auxiliary term added and,
        with a ``mirror``, each minibatch doubled by its mirror image."""
        self.policy.set_training_mode(True)
        # Adam's step and the gradient clip as multi-tensor (foreach) kernels: on the CPU torch picks
        # one kernel launch per parameter tensor (~20 here) each minibatch; the foreach kernels give
        # the same weights to the bit (test_ppo_objective) for ~2% less update CPU (the shipped
        # config). Set on every update: a resumed optimizer brings back its saved setting.
        for group in self.policy.optimizer.param_groups:
            group["foreach"] = self.multi_tensor_kernels
        if self.mirror is not None:
            self.mirror.set_normalizer(self.get_vec_normalize_env())
        if self.desired_kl is None:
            self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        clip_range_vf = None
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]

        entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
        approx_kl_divs: list[float] = []
        mirror_kl_divs: list[float] = []
        aux_scalars: dict[str, list[float]] = defaultdict(list)
        loss = torch.zeros(())
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                rollout_size = len(rollout_data.actions)  # with a mirror: these first, then their images
                rollout_observations = rollout_data.observations
                if self.mirror is not None:
                    rollout_data = self.mirror.augment(rollout_data)
                # z of the history comes back too: the auxiliary loss reuses it (one encoder pass)
                with torch.autocast(
                    self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16"
                ):
                    values, log_prob, entropy, latent = self.policy.evaluate_actions_and_latent(
                        rollout_data.observations, rollout_data.actions
                    )
                values, log_prob = values.float().flatten(), log_prob.float()
                if latent is not None:
                    latent = latent.float()
                advantages = rollout_data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

                ratio = torch.exp(log_prob - rollout_data.old_log_prob)
                policy_loss = -torch.min(
                    advantages * ratio, advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
                ).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(torch.mean((torch.abs(ratio - 1) > clip_range).float()).item())

                if clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = rollout_data.old_values + torch.clamp(
                        values - rollout_data.old_values, -clip_range_vf, clip_range_vf
                    )
                value_loss = F.mse_loss(rollout_data.returns, values_pred)
                value_losses.append(value_loss.item())

                entropy_loss = -torch.mean(-log_prob) if entropy is None else -torch.mean(entropy)
                entropy_losses.append(entropy_loss.item())

                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                aux_loss, scalars = self.policy.auxiliary_loss(
                    rollout_observations, None if latent is None else latent[:rollout_size]
                )
                if aux_loss is not None and self.aux_weight > 0:
                    loss = loss + self.aux_weight * aux_loss
                for name, value in scalars.items():
                    aux_scalars[name].append(value)

                with torch.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    kl_terms = (torch.exp(log_ratio) - 1) - log_ratio
                    approx_kl_div = torch.mean(kl_terms[:rollout_size]).item()
                    approx_kl_divs.append(approx_kl_div)
                    if self.mirror is not None:
                        mirror_kl_divs.append(torch.mean(kl_terms[rollout_size:]).item())
                if self.desired_kl is not None:
                    self.adapt_learning_rate(approx_kl_div)
                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl_div:.2f}")
                    break

                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    self.policy.parameters(), self.max_grad_norm, foreach=self.multi_tensor_kernels
                )
                self.policy.optimizer.step()

            self._n_updates += 1
            if not continue_training:
                break

        explained_var = explained_variance(
            self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()
        )
        self.logger.record("train/entropy_loss", np.mean(entropy_losses))
        self.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
        self.logger.record("train/value_loss", np.mean(value_losses))
        self.logger.record("train/approx_kl", np.mean(approx_kl_divs))
        self.logger.record("train/clip_fraction", np.mean(clip_fractions))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/explained_variance", explained_var)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", torch.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.desired_kl is not None:
            self.logger.record("train/learning_rate", self.policy.optimizer.param_groups[0]["lr"])
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)
        if mirror_kl_divs:
            self.logger.record("train/mirror_approx_kl", float(np.mean(mirror_kl_divs)))
        for name, values_logged in aux_scalars.items():
            self.logger.record(f"losses/{name}", float(np.mean(values_logged)))
