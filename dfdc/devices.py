"""Device selection: CUDA when available, else CPU; never a hard-coded `.cuda()`."""
from __future__ import annotations

import torch

from .cli import UserError


def resolve_device(name: str | None = 'auto') -> torch.device:
    """`auto` (CUDA if available, else CPU), `cpu`, `cuda` or `cuda:N`."""
    if name in (None, '', 'auto'):
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f'unknown device {name!r}; use auto, cpu, cuda or cuda:N') from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UserError(f'--device {name} asked for CUDA, but no CUDA device is available; use --device cpu')
    return device


PRECISIONS = ('fp32', 'fp16', 'bf16')
_AUTOCAST_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise UserError(f'unknown precision {precision!r}; use one of {", ".join(PRECISIONS)}')
    return precision


def autocast(device: torch.device, precision: str = 'fp32'):
    """Autocast for 'fp16' or 'bf16'; 'fp32' (the published computation) computes in float32."""
    dtype = _AUTOCAST_DTYPES.get(check_precision(precision))
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
