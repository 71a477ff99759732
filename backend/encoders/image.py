"""Image encoders: one network behind one of two runtimes, eager PyTorch or ONNX Runtime.

Both split the input into batches, run the shared preprocessing (``preprocess.py``) and return
L2-normalised float32 rows; ``features`` gives the raw network output for comparisons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backend.encoders.base import l2_normalize

if TYPE_CHECKING:
    import torch

Preprocess = Callable[[Sequence[Image.Image]], NDArray[np.float32]]


def _in_batches(
    images: Sequence[Image.Image],
    batch_size: int,
    dim: int,
    run: Callable[[NDArray[np.float32]], NDArray[np.float32]],
    preprocess: Preprocess,
) -> NDArray[np.float32]:
    if isinstance(images, Image.Image):
        raise TypeError("encode() takes a sequence of images; wrap a single image in a list")
    if len(images) == 0:
        return np.zeros((0, dim), np.float32)
    parts = [
        run(preprocess(images[start : start + batch_size]))
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32, copy=False)


class TorchImageEncoder:
    """A torch module on ``device``; ``forward`` defaults to calling the module."""

    def __init__(
        self,
        *,
        name: str,
        dim: int,
        module: torch.nn.Module,
        preprocess: Preprocess,
        device: str,
        batch_size: int = 32,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.name = name
        self.dim = dim
        self.device = device
        self.runtime = "torch"
        self.batch_size = max(1, batch_size)
        self.module = module.eval().to(device)
        self._forward = forward or self.module
        self._preprocess = preprocess

    def _run(self, pixels: NDArray[np.float32]) -> NDArray[np.float32]:
        import torch

        with torch.inference_mode():
            out = self._forward(torch.from_numpy(pixels).to(self.device))
            result: NDArray[np.float32] = out.float().cpu().numpy()
        return result

    def features(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """The network's raw (unnormalised) output, ``(n, dim)``."""
        return _in_batches(images, self.batch_size, self.dim, self._run, self._preprocess)

    def encode(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """Unit-length rows, ``(n, dim)``."""
        return l2_normalize(self.features(images))

    def __repr__(self) -> str:
        return f"<TorchImageEncoder {self.name} dim={self.dim} device={self.device}>"


class OnnxImageEncoder:
    """An exported network in an ONNX Runtime session (see ``onnx_export.py``)."""

    def __init__(
        self,
        *,
        name: str,
        dim: int,
        session: Any,
        preprocess: Preprocess,
        batch_size: int = 32,
    ) -> None:
        self.name = name
        self.dim = dim
        self.device = "cpu"
        self.runtime = "onnx"
        self.batch_size = max(1, batch_size)
        self.session = session
        self._input = session.get_inputs()[0].name
        self._preprocess = preprocess

    def _run(self, pixels: NDArray[np.float32]) -> NDArray[np.float32]:
        out: NDArray[np.float32] = self.session.run(None, {self._input: pixels})[0]
        return out

    def features(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """The network's raw (unnormalised) output, ``(n, dim)``."""
        return _in_batches(images, self.batch_size, self.dim, self._run, self._preprocess)

    def encode(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """Unit-length rows, ``(n, dim)``."""
        return l2_normalize(self.features(images))

    def __repr__(self) -> str:
        return f"<OnnxImageEncoder {self.name} dim={self.dim}>"
