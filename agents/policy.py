"""Asymmetric actor-critic for the humanoid: a history latent ``z`` (actor), privileged state (critic).

The environment's observation is a Dict: ``policy`` (``K`` stacked frames of what the robot senses,
oldest first, ``P`` values each) and ``privileged`` (``Q`` values only the simulator knows).

* **Actor**: a history encoder (MLP over the flattened history, or a GRU over the ``K`` frames)
  produces a latent ``z``; the action head sees the newest frame (proprioception, command, clock)
  and ``z``.
* **Critic**: sees the whole ``policy`` history and the ``privileged`` vector.
* **Privileged encoder**: maps ``privileged`` to ``z*``. It only feeds the auxiliary loss, which
  pulls ``z`` towards ``z*`` (InfoNCE), so the actor learns to infer the hidden dynamics from its
  history.

The networks plug into Stable-Baselines3 through its extension points: one features extractor
(:class:`AsymmetricExtractor`) returns the actor's and the critic's inputs side by side, and the
policy's ``mlp_extractor`` (:class:`AsymmetricMlpExtractor`) routes each half to its own MLP.
Nothing of SB3's rollout, distribution or saving logic is replaced.

Latent modes (``agent.latent`` in configs/humanoid.yaml), so every baseline comes from this code:

==============  ===============================================  ====================
mode            actor input                                      auxiliary loss
==============  ===============================================  ====================
``contrastive`` newest frame + ``z``                             InfoNCE(z, z*)
``latent``      newest frame + ``z``                             none (PPO trains z)
``regression``  newest frame + ``z``                             MSE(head(z), privileged)
``proprio``     the whole stacked history (no latent)            none
==============  ===============================================  ====================

With ``env.scan.policy: true`` every mode's actor also reads the noisy terrain scan (observation
``scan``): a perceptive policy, as legged_gym's rough-terrain policies read measured heights.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor, nn

from clrl.losses.infonce import contrastive_accuracy, info_nce_from_logits, info_nce_logits

LATENT_MODES = ("contrastive", "latent", "regression", "proprio")
HISTORY_ENCODERS = ("mlp", "gru")


def mlp(
    sizes: Sequence[int], activation: type[nn.Module] = nn.ELU, *, last_activation: bool = True
) -> nn.Sequential:
    """``Linear`` layers of the given sizes (``sizes[0]`` is the input) with activations between."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if last_activation or index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MlpHistoryEncoder(nn.Module):
    """``(B, K, P)`` history -> ``(B, latent_dim)``, an MLP over the flattened frames."""

    def __init__(self, history_length: int, frame_size: int, hidden: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        self.net = mlp([history_length * frame_size, *hidden, latent_dim], last_activation=False)

    def forward(self, history: Tensor) -> Tensor:
        return self.net(history.flatten(1))


class GruHistoryEncoder(nn.Module):
    """``(B, K, P)`` history -> ``(B, latent_dim)``, a GRU read from oldest to newest frame.

    The GRU is re-run over the stored window at every step (no recurrent state crosses steps),
    so SB3's feed-forward rollout buffer and minibatch shuffling still apply unchanged.
    """

    def __init__(self, history_length: int, frame_size: int, hidden: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        width = hidden[0] if hidden else 64
        self.gru = nn.GRU(frame_size, width, batch_first=True)
        self.head = nn.Linear(width, latent_dim)

    def forward(self, history: Tensor) -> Tensor:
        _, last_hidden = self.gru(history)  # (1, B, width)
        return self.head(last_hidden[0])


class AsymmetricExtractor(BaseFeaturesExtractor):
    """Features for both heads: ``[actor_features | critic_features]`` along the last axis.

    A perceptive env (``scan.policy: true``) adds ``scan=Box((S,))``, the noisy terrain scan: the
    actor reads it beside its other inputs (the critic has the exact one in ``privileged``).

    Args:
        observation_space: ``Dict(policy=Box((K*P,)), privileged=Box((Q,)))`` [+ ``scan=Box((S,))``].
        history_length: ``K``, the number of stacked frames in ``policy`` (oldest first).
        latent: one of :data:`LATENT_MODES`.
        history_encoder: ``"mlp"`` or ``"gru"``.
        latent_dim: size of ``z`` and ``z*``.
        encoder_hidden: hidden sizes of the history encoder (the GRU uses the first as its width).
        privileged_hidden: hidden sizes of the privileged encoder.
        contrastive_inputs: the entries of ``privileged`` the privileged encoder reads (``z*``, the
            contrastive target), ``None``: all of them. With only the hidden dynamics parameters, ``z``
            must carry those to pick its ``z*``, not the base motion it could read from the history.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        history_length: int,
        latent: str = "contrastive",
        history_encoder: str = "mlp",
        latent_dim: int = 32,
        encoder_hidden: Sequence[int] = (256, 128),
        privileged_hidden: Sequence[int] = (128,),
        contrastive_inputs: Sequence[int] | None = None,
    ) -> None:
        if latent not in LATENT_MODES:
            raise ValueError(f"unknown latent mode {latent!r}; expected one of {', '.join(LATENT_MODES)}")
        if history_encoder not in HISTORY_ENCODERS:
            raise ValueError(
                f"unknown history encoder {history_encoder!r}; expected one of {', '.join(HISTORY_ENCODERS)}"
            )
        policy_size = int(observation_space["policy"].shape[0])
        privileged_size = int(observation_space["privileged"].shape[0])
        if history_length <= 0 or policy_size % history_length:
            raise ValueError(
                f"policy observation of size {policy_size} is not {history_length} stacked frames"
            )
        frame_size = policy_size // history_length
        self.scan_size = int(observation_space["scan"].shape[0]) if "scan" in observation_space.spaces else 0
        actor_dim = (policy_size if latent == "proprio" else frame_size + latent_dim) + self.scan_size
        critic_dim = policy_size + privileged_size
        super().__init__(observation_space, features_dim=actor_dim + critic_dim)
        self.latent = latent
        self.history_length = history_length
        self.frame_size = frame_size
        self.privileged_size = privileged_size
        self.contrastive_inputs = None if contrastive_inputs is None else [int(i) for i in contrastive_inputs]
        self.actor_dim = actor_dim
        self.critic_dim = critic_dim
        self.history_encoder: nn.Module | None = None
        self.privileged_encoder: nn.Module | None = None
        self.regression_head: nn.Module | None = None
        if latent != "proprio":
            encoder_class = MlpHistoryEncoder if history_encoder == "mlp" else GruHistoryEncoder
            self.history_encoder = encoder_class(history_length, frame_size, encoder_hidden, latent_dim)
        if latent == "contrastive":
            target_size = privileged_size if self.contrastive_inputs is None else len(self.contrastive_inputs)
            self.privileged_encoder = mlp(
                [target_size, *privileged_hidden, latent_dim], last_activation=False
            )
        if latent == "regression":
            self.regression_head = nn.Linear(latent_dim, privileged_size)
        self._recorded_latents: list[Tensor | None] | None = None

    def history(self, observations: dict[str, Tensor]) -> Tensor:
        """``(B, K, P)`` frames of the ``policy`` observation, oldest first."""
        return observations["policy"].reshape(-1, self.history_length, self.frame_size)

    def latent_z(self, observations: dict[str, Tensor]) -> Tensor:
        """The actor's latent ``z`` from its history, ``(B, latent_dim)``."""
        if self.history_encoder is None:
            raise ValueError("latent mode 'proprio' has no history latent")
        return self.history_encoder(self.history(observations))

    def privileged_latent(self, observations: dict[str, Tensor]) -> Tensor:
        """``z*`` of the privileged state, ``(B, latent_dim)`` (contrastive mode only)."""
        if self.privileged_encoder is None:
            raise ValueError(f"latent mode {self.latent!r} has no privileged encoder")
        privileged = observations["privileged"]
        if self.contrastive_inputs is not None:
            privileged = privileged[:, torch.as_tensor(self.contrastive_inputs, device=privileged.device)]
        return self.privileged_encoder(privileged)

    @contextmanager
    def recording_latents(self) -> Iterator[list[Tensor | None]]:
        """Within the block, each forward pass appends the ``z`` it computed (``None`` in proprio mode)
        to the list this yields, so a caller of SB3's methods (``evaluate_actions``) gets ``z`` too and
        the PPO update can reuse it for the auxiliary loss instead of encoding the history twice."""
        latents: list[Tensor | None] = []
        self._recorded_latents = latents
        try:
            yield latents
        finally:
            self._recorded_latents = None

    def forward(self, observations: dict[str, Tensor]) -> Tensor:
        features, latent = self.features_and_latent(observations)
        if self._recorded_latents is not None:
            self._recorded_latents.append(latent)
        return features

    def features_and_latent(self, observations: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """The features (see :meth:`forward`) and the ``z`` inside them (``None`` in proprio mode)."""
        policy = observations["policy"]
        latent = None
        if self.latent == "proprio":
            actor_parts = [policy]
        else:
            latent = self.latent_z(observations)
            actor_parts = [policy[:, -self.frame_size :], latent]
        if self.scan_size:
            actor_parts.append(observations["scan"])
        actor = torch.cat(actor_parts, dim=1)
        critic = torch.cat([policy, observations["privileged"]], dim=1)
        return torch.cat([actor, critic], dim=1), latent


class AsymmetricMlpExtractor(nn.Module):
    """SB3's ``mlp_extractor`` role, with the actor and critic MLPs reading different inputs.

    ``features`` is :class:`AsymmetricExtractor`'s output; the first ``actor_dim`` columns go to
    the policy MLP, the rest to the value MLP.
    """

    def __init__(
        self,
        actor_dim: int,
        critic_dim: int,
        net_arch: dict[str, list[int]],
        activation_fn: type[nn.Module],
    ) -> None:
        super().__init__()
        self.actor_dim = actor_dim
        self.policy_net = mlp([actor_dim, *net_arch["pi"]], activation_fn)
        self.value_net = mlp([critic_dim, *net_arch["vf"]], activation_fn)
        self.latent_dim_pi = net_arch["pi"][-1] if net_arch["pi"] else actor_dim
        self.latent_dim_vf = net_arch["vf"][-1] if net_arch["vf"] else critic_dim

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: Tensor) -> Tensor:
        return self.policy_net(features[:, : self.actor_dim])

    def forward_critic(self, features: Tensor) -> Tensor:
        return self.value_net(features[:, self.actor_dim :])


class ContrastiveActorCriticPolicy(ActorCriticPolicy):
    """SB3 ``ActorCriticPolicy`` with :class:`AsymmetricExtractor` and an auxiliary latent loss.

    Constructed by SB3 from ``policy_kwargs``; the extra arguments are

    Args:
        aux_temperature: InfoNCE temperature.
        aux_similarity: ``"cosine"``, ``"dot"`` or ``"neg_sq_l2"`` (see :mod:`clrl.losses.similarity`).
        aux_direction: ``"forward"`` (each ``z`` picks its ``z*``), ``"backward"`` or ``"symmetric"``.

    ``features_extractor_kwargs`` go to :class:`AsymmetricExtractor` (``history_length`` is required).
    """

    features_extractor: AsymmetricExtractor

    def __init__(
        self,
        *args: Any,
        aux_temperature: float = 0.1,
        aux_similarity: str = "cosine",
        aux_direction: str = "forward",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("features_extractor_class", AsymmetricExtractor)
        kwargs["share_features_extractor"] = True  # one extractor computes both heads' inputs
        self.aux_temperature = aux_temperature
        self.aux_similarity = aux_similarity
        self.aux_direction = aux_direction
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            aux_temperature=self.aux_temperature,
            aux_similarity=self.aux_similarity,
            aux_direction=self.aux_direction,
        )
        return data

    def _build_mlp_extractor(self) -> None:
        net_arch = (
            self.net_arch if isinstance(self.net_arch, dict) else {"pi": self.net_arch, "vf": self.net_arch}
        )
        self.mlp_extractor = AsymmetricMlpExtractor(
            self.features_extractor.actor_dim,
            self.features_extractor.critic_dim,
            net_arch,
            self.activation_fn,
        )

    @property
    def latent_mode(self) -> str:
        return self.features_extractor.latent

    def evaluate_actions_and_latent(
        self, obs: dict[str, Tensor], actions: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """SB3's :meth:`evaluate_actions` (values, log-probabilities, entropy) and the history latent
        ``z`` its features extractor computed on the way (``None`` in proprio mode), for
        :meth:`auxiliary_loss`."""
        with self.features_extractor.recording_latents() as latents:
            values, log_prob, entropy = self.evaluate_actions(obs, actions)
        (latent,) = latents  # the one shared extractor runs once
        return values, log_prob, entropy, latent

    def auxiliary_loss(
        self, observations: dict[str, Tensor], latent: Tensor | None = None
    ) -> tuple[Tensor | None, dict[str, float]]:
        """The latent's auxiliary loss on a minibatch and its scalars to log.

        ``contrastive``: InfoNCE between ``z`` and ``z*`` of the same sample, the other samples of
        the minibatch acting as negatives; logs ``contrastive_loss`` and ``contrastive_accuracy``.
        ``regression``: MSE of a linear head on ``z`` against the (normalised) privileged vector.
        ``latent`` and ``proprio``: no loss (``None``).

        ``latent``: ``z`` of these observations when the caller has it already (the PPO update takes
        it from :meth:`evaluate_actions_and_latent`, saving a second pass through the history
        encoder); ``None`` encodes the history here.
        """
        extractor = self.features_extractor
        if extractor.latent not in ("contrastive", "regression"):
            return None, {}
        observations = self._preprocess(observations)
        if latent is None:
            latent = extractor.latent_z(observations)
        if extractor.latent == "contrastive":
            logits = info_nce_logits(
                latent,
                extractor.privileged_latent(observations),
                temperature=self.aux_temperature,
                similarity=self.aux_similarity,
            )
            loss = info_nce_from_logits(logits, self.aux_direction)
            return loss, {
                "contrastive_loss": loss.item(),
                "contrastive_accuracy": contrastive_accuracy(logits).item(),
            }
        assert extractor.regression_head is not None
        prediction = extractor.regression_head(latent)
        loss = torch.nn.functional.mse_loss(prediction, observations["privileged"])
        return loss, {"regression_loss": loss.item()}

    def _preprocess(self, observations: dict[str, Tensor]) -> dict[str, Tensor]:
        return {key: value.float() for key, value in observations.items()}
