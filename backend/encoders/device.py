"""Where encoders run: the device behind ``device="auto"`` and how many CPU threads to use."""

from __future__ import annotations

import os

from backend.errors import ConfigurationError


def cpu_threads() -> int:
    """CPU cores this process may use (its affinity mask, not the whole machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` must exist."""
    import torch

    wanted = device.strip().lower() or "auto"
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} requested but no CUDA device is available")
    return wanted


def limit_torch_threads() -> None:
    """Keep torch's CPU thread pool within the cores this process may use."""
    import torch

    if torch.get_num_threads() > cpu_threads():
        torch.set_num_threads(cpu_threads())
