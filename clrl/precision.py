"""Number formats for the encoders' forward passes, in training and in planning.

On CPUs with AVX-512 BF16 or AMX (and on CUDA GPUs) a bfloat16 matmul runs about twice as fast as a
float32 one; on other CPUs it is emulated and slower. ``auto`` picks bfloat16 only where it is native.
The weights, optimizer state, losses and latent comparisons stay float32 (``torch.autocast`` keeps
them so); only the encoder's layers compute in bfloat16.
"""

from __future__ import annotations

import torch
from torch import nn

from clrl.errors import ConfigError

#: Number formats an encoder's forward pass can run in; ``auto`` picks :func:`native_precision`.
PRECISIONS = ("auto", "float32", "bfloat16")


def native_precision(device: torch.device | str = "cpu") -> str:
    """``bfloat16`` where the device computes it natively (a CUDA GPU with bf16, a CPU with AVX-512
    BF16 or AMX), else ``float32``: emulated bfloat16 is slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    try:
        # oneDNN's own check of the CPU's bf16 instructions (the one torch's CPU autocast relies on)
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    return "bfloat16" if native else "float32"


def check_precision(precision: str, key: str) -> None:
    """Refuse a ``precision`` (the value of config key or option ``key``) that is not one of
    :data:`PRECISIONS`, with one line (:class:`~clrl.errors.ConfigError`, exit code 2)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"{key} must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """``float32`` or ``bfloat16``: ``precision`` itself, or for ``auto`` what the device has natively."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return native_precision(device) if precision == "auto" else precision


class AutocastForward(nn.Module):
    """``module``'s forward pass under bfloat16 autocast (or as it is, for float32), returned as float32.

    Wraps a module for training without changing what is saved: its parameters are ``module``'s own,
    so ``module.state_dict()`` is the checkpoint's, and gradients reach them in float32.
    """

    def __init__(self, module: nn.Module, precision: str, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.module = module
        self.precision = resolve_precision(precision, device)
        self.device_type = torch.device(device).type

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            return self.module(*inputs).float()
