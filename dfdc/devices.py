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
