"""What an encoder is: the two protocols the rest of Vitrine codes against.

Catalog loads and queries both turn text and images into L2-normalised float32 rows through
these; the registry (``registry.py``) hands out the implementations by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from PIL import Image


@runtime_checkable
class TextEncoder(Protocol):
    """Texts in, one unit-length ``dim``-wide float32 row per text out."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Shape ``(len(texts), dim)``; an empty sequence gives ``(0, dim)``."""
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    """PIL images of any mode in, one unit-length ``dim``-wide float32 row per image out."""

    name: str
    dim: int

    def encode(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """Shape ``(len(images), dim)``; an empty sequence gives ``(0, dim)``."""
        ...


def l2_normalize(rows: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows scaled to unit length, as contiguous float32 (an all-zero row stays zero)."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: NDArray[np.float32] = np.ascontiguousarray(rows / np.maximum(norms, 1e-12), np.float32)
    return out
