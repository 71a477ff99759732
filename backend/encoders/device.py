"""Where encoders run: the device behind ``device="auto"`` and how many CPU threads to use."""

from __future__ import annotations

import os
import sys

from backend.errors import ConfigurationError


def cpu_threads() -> int:
    """CPU cores this process may use (its affinity mask, not the whole machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# What a CUDA driver leaves on Linux (native, or /dev/dxg under WSL 2). Without any of them
# torch.cuda.is_available() is False, and asking would cost the import of torch (500 MiB).
_CUDA_TRACES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg")


def _cuda_possible() -> bool:
    return not sys.platform.startswith("linux") or any(map(os.path.exists, _CUDA_TRACES))


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` must exist.

    PyTorch is imported only to ask about a GPU that could be there, so a CPU machine that
    runs its encoders in ONNX Runtime never loads it.
    """
    wanted = device.strip().lower() or "auto"
    if wanted == "cpu" or (wanted == "auto" and not _cuda_possible()):
        return "cpu"
    import torch

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
