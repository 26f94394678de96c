"""Device and dtype choice shared by all encoders."""

from __future__ import annotations

import torch

from qdrant_mm.errors import ConfigError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` (or ``cuda:N``) into a :class:`torch.device`.

    ``auto`` picks CUDA when available. Asking for CUDA without one raises :class:`ConfigError`.
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"QDRANT_MM_DEVICE: {name!r} was asked for but CUDA is not available here"
                " (use 'cpu' or 'auto')"
            )
        try:
            device = torch.device(name)
        except RuntimeError as exc:
            raise ConfigError(f"QDRANT_MM_DEVICE: invalid device {name!r}: {exc}") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"QDRANT_MM_DEVICE: {name!r} does not exist"
                f" ({torch.cuda.device_count()} CUDA device(s) found)"
            )
        return device
    raise ConfigError(f"QDRANT_MM_DEVICE: must be one of auto, cpu, cuda (got {name!r})")


def model_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA, fp32 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.float32


def autocast(device: torch.device) -> torch.autocast:
    """An fp16 autocast context on CUDA; a disabled one elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)
