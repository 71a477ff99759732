"""The fusion head: a product's text and image features become one ``fused`` vector, and a text
or image query lands in the same space, so words can find pictures and pictures words.

f(x_t, x_v) = P_t x_t + P_v x_v + MLP(P_t x_t, P_v x_v) + FM(x_t, x_v), where the
factorization-machine term is the pairwise interaction of the two fields, (U_t x_t) * (U_v x_v).
Queries go through the same projections plus a small residual MLP per modality. The linear
path P_t x_t + P_v x_v carries a product's own features into its fused vector, which is all a
product the head never saw (one added after training) has to go on; version-1 checkpoints,
without it, still load and fuse as they were trained. Training (torch, contrastive) lives in
``loaders/fusion_training.py``; here the head runs in numpy: a few small matrix products per
query, no torch on the request path. A checkpoint is one ``.npz`` holding the weights and a
JSON header naming the encoders and dimensions it was trained for and the skus of the products
it was trained on.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders.base import l2_normalize
from backend.errors import ConfigurationError

FORMAT = "vitrine-fusion"
FORMAT_VERSION = 2  # 2: the product vector has the linear path; 1: MLP + FM only
READABLE_VERSIONS = (1, 2)
FUSED_DIM = 256
HIDDEN = 512
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "fusion-default.npz"

# Parameter names (torch ``state_dict`` keys of the training module) and their shapes.
_LINEAR_LAYERS = (
    "text_proj",
    "image_proj",
    "fm_text",
    "fm_image",
    "product_mlp.0",
    "product_mlp.2",
    "text_query.0",
    "text_query.2",
    "image_query.0",
    "image_query.2",
)


def layer_shapes(text_dim: int, image_dim: int, dim: int = FUSED_DIM) -> dict[str, tuple[int, int]]:
    """``(out, in)`` of every linear layer of a head for these feature widths."""
    return {
        "text_proj": (dim, text_dim),
        "image_proj": (dim, image_dim),
        "fm_text": (dim, text_dim),
        "fm_image": (dim, image_dim),
        "product_mlp.0": (HIDDEN, 2 * dim),
        "product_mlp.2": (dim, HIDDEN),
        "text_query.0": (HIDDEN, dim),
        "text_query.2": (dim, HIDDEN),
        "image_query.0": (HIDDEN, dim),
        "image_query.2": (dim, HIDDEN),
    }


class FusionHeadMismatch(ConfigurationError):
    """A checkpoint trained for other encoders (or dimensions) than the deployment uses."""


def gelu(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """GELU, tanh approximation (torch ``nn.GELU(approximate="tanh")``)."""
    inner = np.float32(0.7978845608) * (x + np.float32(0.044715) * x**3)
    out = np.float32(0.5) * x * (np.float32(1.0) + np.tanh(inner))
    return np.asarray(out, np.float32)


@dataclass(frozen=True)
class FusionHead:
    """A trained head for one pair of encoders; its ``name`` changes whenever its weights do."""

    weights: Mapping[str, NDArray[np.float32]]
    text_encoder: str
    image_encoder: str
    text_dim: int
    image_dim: int
    dim: int
    version: str
    trained: Mapping[str, Any]  # what training recorded: catalog size, epochs, seed, losses
    format_version: int = FORMAT_VERSION
    # The skus of the products it was trained on (None: not recorded, heads before 2026-11-30).
    products: frozenset[str] | None = None

    @property
    def name(self) -> str:
        """The identity recorded with the collection: ``fusion-<weights hash>``."""
        return f"fusion-{self.version}"

    def _linear(self, x: NDArray[np.float32], layer: str) -> NDArray[np.float32]:
        out: NDArray[np.float32] = x @ self.weights[f"{layer}.weight"].T
        return out + self.weights[f"{layer}.bias"]

    def _mlp(self, x: NDArray[np.float32], prefix: str) -> NDArray[np.float32]:
        return self._linear(gelu(self._linear(x, f"{prefix}.0")), f"{prefix}.2")

    def product(
        self, text: NDArray[np.float32], image: NDArray[np.float32] | None
    ) -> NDArray[np.float32]:
        """Fused vectors of products: ``(n, text_dim)`` and ``(n, image_dim)`` rows.

        ``image`` is None, or has all-zero rows, for products without a picture.
        """
        text = np.asarray(text, np.float32)
        if image is None:
            image = np.zeros((len(text), self.image_dim), np.float32)
        image = np.asarray(image, np.float32)
        e_t, e_v = self._linear(text, "text_proj"), self._linear(image, "image_proj")
        mlp = self._mlp(np.concatenate([e_t, e_v], axis=1), "product_mlp")
        fm = self._linear(text, "fm_text") * self._linear(image, "fm_image")
        if self.format_version == 1:
            return l2_normalize(mlp + fm)
        return l2_normalize(e_t + e_v + mlp + fm)

    def text_query(self, text: NDArray[np.float32]) -> NDArray[np.float32]:
        """Text-encoder rows of queries in the fused space."""
        e_t = self._linear(np.asarray(text, np.float32), "text_proj")
        return l2_normalize(e_t + self._mlp(e_t, "text_query"))

    def image_query(self, image: NDArray[np.float32]) -> NDArray[np.float32]:
        """Image-encoder rows of query pictures in the fused space."""
        e_v = self._linear(np.asarray(image, np.float32), "image_proj")
        return l2_normalize(e_v + self._mlp(e_v, "image_query"))

    def check(
        self, *, text_encoder: str, text_dim: int, image_encoder: str, image_dim: int
    ) -> None:
        """Raise ``FusionHeadMismatch`` unless the head was trained for these encoders."""
        trained = (self.text_encoder, self.text_dim, self.image_encoder, self.image_dim)
        if trained != (text_encoder, text_dim, image_encoder, image_dim):
            raise FusionHeadMismatch(
                f"fusion head {self.name} was trained for text encoder {self.text_encoder} "
                f"({self.text_dim}-d) and image encoder {self.image_encoder} "
                f"({self.image_dim}-d), but this deployment uses {text_encoder} ({text_dim}-d) "
                f"and {image_encoder} ({image_dim}-d): train one with `vitrine train-fusion` "
                "or set VITRINE_FUSION_HEAD=none"
            )


def save_head(
    path: Path,
    weights: Mapping[str, NDArray[np.floating]],
    *,
    text_encoder: str,
    image_encoder: str,
    trained: Mapping[str, Any],
    products: Sequence[str] | None = None,
) -> FusionHead:
    """Write a checkpoint (weights stored as float16) and return the head as it loads back.

    ``products``: the skus of the products it was trained on (searches that choose their own
    signals use the fused vector only while every indexed product is one of them)."""
    text_dim = int(weights["text_proj.weight"].shape[1])
    image_dim = int(weights["image_proj.weight"].shape[1])
    dim = int(weights["text_proj.weight"].shape[0])
    _check_shapes(weights, text_dim, image_dim, dim, source=str(path))
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "text_encoder": text_encoder,
        "image_encoder": image_encoder,
        "text_dim": text_dim,
        "image_dim": image_dim,
        "dim": dim,
        "trained": dict(trained),
    }
    if products is not None:
        header["products"] = sorted(set(products))
    arrays: dict[str, Any] = {
        name: np.asarray(value, np.float16) for name, value in sorted(weights.items())
    }
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return load_head(path)


def _check_shapes(
    weights: Mapping[str, Any], text_dim: int, image_dim: int, dim: int, *, source: str
) -> None:
    for layer, (out_dim, in_dim) in layer_shapes(text_dim, image_dim, dim).items():
        w, b = weights.get(f"{layer}.weight"), weights.get(f"{layer}.bias")
        if w is None or b is None or tuple(w.shape) != (out_dim, in_dim) or b.shape != (out_dim,):
            raise ConfigurationError(f"fusion checkpoint {source}: layer {layer} is missing or bad")


_cache: dict[Path, FusionHead] = {}
_lock = threading.Lock()


def load_head(path: Path) -> FusionHead:
    """The head stored at ``path`` (cached per file content); a clear error if it is not one."""
    path = Path(path).expanduser().resolve()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read fusion checkpoint {path}: {exc}") from exc
    version = hashlib.sha256(data).hexdigest()[:12]
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached.version == version:
            return cached
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            header = json.loads(bytes(archive["__header__"]).decode())
            weights = {
                name: np.ascontiguousarray(archive[name], np.float32)
                for name in archive.files
                if name != "__header__"
            }
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"{path} is not a fusion checkpoint: {exc}") from exc
    format_version = header.get("format_version")
    if header.get("format") != FORMAT or format_version not in READABLE_VERSIONS:
        raise ConfigurationError(
            f"{path} is not a fusion checkpoint of version "
            f"{' or '.join(map(str, READABLE_VERSIONS))} "
            f"(format {header.get('format')!r}, version {format_version!r})"
        )
    text_dim, image_dim, dim = int(header["text_dim"]), int(header["image_dim"]), int(header["dim"])
    _check_shapes(weights, text_dim, image_dim, dim, source=str(path))
    head = FusionHead(
        weights=weights,
        text_encoder=str(header["text_encoder"]),
        image_encoder=str(header["image_encoder"]),
        text_dim=text_dim,
        image_dim=image_dim,
        dim=dim,
        version=version,
        trained=header.get("trained", {}),
        format_version=int(format_version),
        products=frozenset(header["products"]) if "products" in header else None,
    )
    with _lock:
        _cache[path] = head
    return head


CURRENT_HEAD = "current.json"  # in a deployment's heads folder: the head its index was fused by


def catalog_head(heads_dir: Path) -> Path | None:
    """The checkpoint of the head trained on this deployment's own catalog, or None."""
    pointer = heads_dir / CURRENT_HEAD
    try:
        record = json.loads(pointer.read_text(encoding="utf-8"))
        return heads_dir / str(record["checkpoint"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        message = f"cannot read the catalog's fusion head record {pointer}: {exc}"
        raise ConfigurationError(message) from exc


def set_catalog_head(heads_dir: Path, checkpoint: Path) -> None:
    """Record ``checkpoint`` (a file in ``heads_dir``) as the catalog's head (atomically)."""
    heads_dir.mkdir(parents=True, exist_ok=True)
    tmp = heads_dir / f".{CURRENT_HEAD}.tmp"
    tmp.write_text(json.dumps({"checkpoint": checkpoint.name}), encoding="utf-8")
    tmp.replace(heads_dir / CURRENT_HEAD)


def head_for(
    spec: str,
    *,
    text_encoder: str,
    text_dim: int,
    image_encoder: str,
    image_dim: int,
    heads_dir: Path | None = None,
) -> FusionHead | None:
    """The head a ``VITRINE_FUSION_HEAD`` value names, checked against the encoders.

    ``none``: no head. ``auto``: the head trained on the catalog (recorded in ``heads_dir``)
    where there is one that fits the encoders, else the shipped head where it fits, else none.
    A path: that checkpoint, which must fit (``FusionHeadMismatch`` otherwise).
    """

    def checked(head: FusionHead) -> FusionHead:
        head.check(
            text_encoder=text_encoder,
            text_dim=text_dim,
            image_encoder=image_encoder,
            image_dim=image_dim,
        )
        return head

    if spec == "none":
        return None
    if spec == "auto":
        trained = catalog_head(heads_dir) if heads_dir is not None else None
        for path in (trained, DEFAULT_CHECKPOINT):
            if path is None or (path == DEFAULT_CHECKPOINT and not path.exists()):
                continue
            try:
                return checked(load_head(path))
            except FusionHeadMismatch:  # trained for other encoders than these
                continue
        return None
    return checked(load_head(Path(spec)))
