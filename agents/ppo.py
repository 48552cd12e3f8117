"""PPO whose loss carries the policy's auxiliary latent loss (InfoNCE or regression), weighted.

Stable-Baselines3 keeps rollout collection, the rollout buffer, VecEnvs, callbacks, logging and
save/load; an algorithm owns only ``train()``. :class:`LatentPPO.train` is SB3's PPO update with
one addition per minibatch::

    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss + aux_weight * aux_loss

where ``aux_loss`` comes from :meth:`ContrastiveActorCriticPolicy.auxiliary_loss`.

With ``desired_kl`` set, the Adam step size adapts after every minibatch as in rsl_rl's PPO (the
legged-locomotion trainer of legged_gym): divided by 1.5 when the minibatch's approximate KL
divergence from the rollout policy exceeds ``2 * desired_kl``, multiplied by 1.5 when it falls
below ``desired_kl / 2``, kept in [1e-5, 1e-2]. A fixed step size that suits the first updates
overshoots later ones as the action noise shrinks (the KL of a Gaussian policy grows with the
squared mean shift over the variance), and the clip then discards most of each minibatch.

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

MIN_ADAPTIVE_LR, MAX_ADAPTIVE_LR = 1e-5, 1e-2


class LatentPPO(PPO):
    """SB3 PPO plus ``aux_weight`` times the policy's auxiliary latent loss.

    Args:
        aux_weight: weight of the auxiliary loss in the minibatch loss (0 switches it off).
        desired_kl: target approximate KL per minibatch of the adaptive step size; None keeps
            SB3's ``learning_rate`` (schedule).
        *args, **kwargs: as for :class:`stable_baselines3.PPO`; the policy must be a
            :class:`ContrastiveActorCriticPolicy`.
    """

    policy: ContrastiveActorCriticPolicy

    def __init__(
        self, *args: Any, aux_weight: float = 0.1, desired_kl: float | None = None, **kwargs: Any
    ) -> None:
        if desired_kl is not None and desired_kl <= 0:
            raise ValueError(f"ppo.desired_kl must be positive (or null for a fixed step), got {desired_kl}")
        self.aux_weight = aux_weight
        self.desired_kl = desired_kl
        super().__init__(*args, **kwargs)

    def adapt_learning_rate(self, approx_kl: float) -> None:
        """rsl_rl's rule. The step size lives in the optimizer, so saving and resuming keep it."""
        for group in self.policy.optimizer.param_groups:
            if approx_kl > 2.0 * self.desired_kl:
                group["lr"] = max(MIN_ADAPTIVE_LR, group["lr"] / 1.5)
            elif approx_kl < 0.5 * self.desired_kl:
                group["lr"] = min(MAX_ADAPTIVE_LR, group["lr"] * 1.5)

    def train(self) -> None:
        """One PPO update over the rollout buffer (SB3's algorithm) with the auxiliary term added."""
        self.policy.set_training_mode(True)
        if self.desired_kl is None:
            self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        clip_range_vf = None
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]

        entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
        approx_kl_divs: list[float] = []
        aux_scalars: dict[str, list[float]] = defaultdict(list)
        loss = torch.zeros(())
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                values, log_prob, entropy = self.policy.evaluate_actions(
                    rollout_data.observations, rollout_data.actions
                )
                values = values.flatten()
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
                aux_loss, scalars = self.policy.auxiliary_loss(rollout_data.observations)
                if aux_loss is not None and self.aux_weight > 0:
                    loss = loss + self.aux_weight * aux_loss
                for name, value in scalars.items():
                    aux_scalars[name].append(value)

                with torch.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = torch.mean((torch.exp(log_ratio) - 1) - log_ratio).item()
                    approx_kl_divs.append(approx_kl_div)
                if self.desired_kl is not None:
                    self.adapt_learning_rate(approx_kl_div)
                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl_div:.2f}")
                    break

                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
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
        for name, values_logged in aux_scalars.items():
            self.logger.record(f"losses/{name}", float(np.mean(values_logged)))
