"""The CPU fast path for text: a sentence-transformers BERT-family model in ONNX Runtime.

``text.load`` hands a loaded ``SentenceTransformer`` here on CPU. Its transformer is exported
once through ``onnx_export.py`` (optionally with int8 weights), beside a manifest holding its
tokenizer and pooling; tokenizing (the Rust ``tokenizers`` backend), the model's own pooling
(mean or CLS) and normalisation run around the session in numpy, texts sorted by length so
each batch pads as little as possible. Once both files exist, ``cached`` opens them without
PyTorch, sentence-transformers or transformers, so a server that only encodes queries never
imports them (about 800 MiB of memory for MiniLM, docs/benchmarks.md).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders.base import l2_normalize
from backend.encoders.onnx_export import (
    cpu_session,
    ffn_down_projections,
    load_or_write,
    onnx_cache_path,
    then_quantized,
    token_embeddings,
    transformers_export,
    write_atomically,
)
from backend.errors import ConfigurationError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

# Bump when the export wrapper, the quantisation choices or the manifest below change.
RECIPE_VERSION = 2
MANIFEST_FORMAT = "vitrine-text-onnx"
# Encoder-only models whose forward takes input_ids, attention_mask (and token_type_ids).
MODEL_TYPES = frozenset({"bert", "distilbert", "electra", "mpnet", "roberta", "xlm-roberta"})
POOLING_MODES = ("mean", "cls")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "token_embeddings"
_WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")
# Files besides the weights that decide the vectors; a change to any of them means a new export.
_CONFIG_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "*_Pooling/config.json",
)
# Texts on which the tokenizer backend must give the Hugging Face wrapper's ids: cased and
# accented Latin, CJK, emoji, an empty text and one past any model's length limit.
_TOKENIZER_PROBES = (
    "Red Cotton T-Shirt, size XL",
    "ÉCOLE d'été: Übergröße, façade, niño",
    "T恤 运动鞋 手套 てぶくろ 장갑",
    "🧤 gloves 🧣 scarf",
    "",
    "wool " * 600,
)


class UnsupportedModel(ConfigurationError):
    """The sentence-transformers model cannot run through this path (it stays in PyTorch)."""


@dataclass(frozen=True)
class TextOnnxPlan:
    """What the ONNX path needs to know about a sentence-transformers model (the manifest)."""

    dim: int
    input_names: tuple[str, ...]
    pooling: str
    max_seq_length: int
    pad_id: int
    pad_type_id: int
    tokenizer: str  # the fast tokenizer's backend, as ``tokenizers`` JSON

    def to_json(self) -> str:
        return json.dumps({"format": MANIFEST_FORMAT, "version": RECIPE_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, raw: str) -> TextOnnxPlan:
        """The plan of a manifest; ``ValueError`` for another format or version."""
        data = json.loads(raw)
        if data.pop("format", None) != MANIFEST_FORMAT or data.pop("version", None) != (
            RECIPE_VERSION
        ):
            raise ValueError("not a text ONNX manifest of this version")
        data["input_names"] = tuple(data["input_names"])
        return cls(**data)


def _key_files(model_dir: Path, transformer_dir: Path) -> tuple[Path, ...]:
    """The files an export is keyed on: the weights and the configuration beside them."""
    weights = sorted(path for pattern in _WEIGHT_FILES for path in transformer_dir.glob(pattern))
    if not weights:
        raise UnsupportedModel(f"no weights file in {transformer_dir} to key the ONNX cache on")
    configs = {
        path
        for folder in {model_dir, transformer_dir}
        for name in _CONFIG_FILES
        for path in folder.glob(name)
    }
    return (*weights, *sorted(configs))


def _transformer_dir(model_dir: Path) -> Path | None:
    """The folder of a saved sentence-transformers model's Transformer module, if it has one."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        (path,) = [m["path"] for m in modules if str(m["type"]).endswith(".Transformer")]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return model_dir / str(path)


def _backend_tokenizer(wrapper: Any, max_seq_length: int) -> Tokenizer:
    """``wrapper``'s Rust tokenizer, truncating as the wrapper does and never padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(wrapper.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length)
    return tokenizer


def plan(model: Any) -> TextOnnxPlan:
    """How to run ``model`` in ONNX Runtime; ``UnsupportedModel`` says why it cannot."""
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling

    modules = list(model)
    if not (
        len(modules) in (2, 3)
        and type(modules[0]) is Transformer
        and type(modules[1]) is Pooling
        and all(type(extra) is Normalize for extra in modules[2:])
    ):
        raise UnsupportedModel(
            "only Transformer + Pooling (+ Normalize) models run in ONNX Runtime, not "
            + " + ".join(type(module).__name__ for module in modules)
        )
    transformer, pooling = modules[0], modules[1]
    config = transformer.auto_model.config
    if config.model_type not in MODEL_TYPES:
        raise UnsupportedModel(f"model type {config.model_type!r} is not exported to ONNX")
    if list(transformer.modalities) != ["text"]:
        raise UnsupportedModel("only text-only models run in ONNX Runtime")
    if model.default_prompt_name or getattr(model, "truncate_dim", None):
        raise UnsupportedModel("models with a default prompt or truncate_dim stay in PyTorch")
    mode = str(pooling.get_config_dict().get("pooling_mode"))
    if mode not in POOLING_MODES:
        raise UnsupportedModel(
            f"pooling {mode!r} is not implemented for ONNX Runtime "
            f"(supported: {', '.join(POOLING_MODES)})"
        )
    wrapper = transformer.tokenizer
    if not getattr(wrapper, "is_fast", False) or wrapper.padding_side != "right":
        raise UnsupportedModel("the ONNX path needs a fast tokenizer that pads on the right")
    max_length = int(transformer.max_seq_length or wrapper.model_max_length)
    backend = _backend_tokenizer(wrapper, max_length)
    expected = wrapper(
        list(_TOKENIZER_PROBES),
        padding=False,
        truncation="longest_first",
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]
    if [e.ids for e in backend.encode_batch(list(_TOKENIZER_PROBES))] != expected:
        raise UnsupportedModel("the tokenizer's backend does not give its wrapper's token ids")
    return TextOnnxPlan(
        dim=int(model.get_embedding_dimension()),
        input_names=tuple(name for name in INPUTS if name in wrapper.model_input_names),
        pooling=mode,
        max_seq_length=max_length,
        pad_id=int(wrapper.pad_token_id or 0),
        pad_type_id=int(getattr(wrapper, "pad_token_type_id", 0) or 0),
        tokenizer=backend.to_str(),
    )


class OnnxTextEncoder:
    """A sentence-transformers model whose transformer runs in an ONNX Runtime session."""

    def __init__(
        self,
        *,
        name: str,
        session: Any,
        plan: TextOnnxPlan,
        quantized: bool,
        batch_size: int = 32,
    ) -> None:
        from tokenizers import Tokenizer

        self.name = name
        self.dim = plan.dim
        self.device = "cpu"
        self.runtime = "onnx-int8" if quantized else "onnx"
        self.batch_size = max(1, batch_size)
        self.session = session
        self.plan = plan
        self.tokenizer = Tokenizer.from_str(plan.tokenizer)
        # A Rust tokenizer raises "Already borrowed" when two threads use it at once; ONNX
        # Runtime sessions are safe to share, so only tokenizing is locked.
        self._lock = threading.Lock()

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            encoded = self.tokenizer.encode_batch(texts)
        return [row.ids for row in encoded]

    def _pooled(self, batch: Sequence[list[int]]) -> NDArray[np.float32]:
        width = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), width), self.plan.pad_id, np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        # BERT tokenizers give one segment (type 0) for single texts; pads get the pad type.
        token_types = np.where(mask == 1, 0, self.plan.pad_type_id).astype(np.int64)
        inputs = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": token_types}
        feed = {name: inputs[name] for name in self.plan.input_names}
        tokens: NDArray[np.float32] = self.session.run(None, feed)[0]
        if self.plan.pooling == "cls":
            return np.ascontiguousarray(tokens[:, 0], np.float32)
        weights = mask[:, :, None].astype(np.float32)
        summed = (tokens * weights).sum(axis=1)
        pooled: NDArray[np.float32] = summed / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-length rows, ``(len(texts), dim)``."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings; wrap a single text in a list")
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        ids = self._tokenize(list(texts))
        # Similar lengths side by side: each batch pads only to its own longest text.
        order = np.argsort([len(row) for row in ids], kind="stable")
        rows = np.empty((len(ids), self.dim), np.float32)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            rows[chosen] = self._pooled([ids[i] for i in chosen])
        return l2_normalize(rows)

    def __repr__(self) -> str:
        return f"<OnnxTextEncoder {self.name} dim={self.dim} runtime={self.runtime}>"


def _cache_name(name: str, quantized: bool) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[-60:] or "text"
    return f"{slug}-int8" if quantized else slug


def _paths(
    cache_dir: Path, name: str, quantize: bool, model_dir: Path, transformer_dir: Path
) -> tuple[Path, Path]:
    """Where the export of ``name`` and its manifest live."""
    recipe = f"text v{RECIPE_VERSION} {'int8' if quantize else 'fp32'}"
    files = _key_files(model_dir.resolve(), transformer_dir.resolve())
    path = onnx_cache_path(cache_dir, _cache_name(name, quantize), files, recipe=recipe)
    return path, path.with_suffix(".json")


def cached(
    name: str, source: str, *, cache_dir: Path, quantize: bool, batch_size: int = 32
) -> OnnxTextEncoder | None:
    """The encoder ``load`` exported earlier for the model folder ``source``, opened without
    PyTorch; None when there is no such export (a hub name, a first run, another recipe)."""
    model_dir = Path(source).expanduser()
    transformer_dir = _transformer_dir(model_dir) if model_dir.is_dir() else None
    if transformer_dir is None:
        return None
    try:
        path, manifest = _paths(cache_dir, name, quantize, model_dir, transformer_dir)
        text_plan = TextOnnxPlan.from_json(manifest.read_text(encoding="utf-8"))
        session = cpu_session(path)
        return OnnxTextEncoder(
            name=name, session=session, plan=text_plan, quantized=quantize, batch_size=batch_size
        )
    except (FileNotFoundError, UnsupportedModel):  # not exported yet, or never exportable
        return None
    except Exception as exc:  # an unreadable or foreign file: ``load`` writes it anew
        log.warning("text encoder %s: cached ONNX export not used (%s)", name, exc)
        return None


def load(
    name: str,
    model: Any,
    *,
    cache_dir: Path,
    quantize: bool,
    batch_size: int = 32,
    source: str | None = None,
) -> OnnxTextEncoder:
    """``model`` (a CPU ``SentenceTransformer``, loaded from the folder ``source`` if it came
    from one) behind an ONNX Runtime session.

    The export and its manifest live in ``cache_dir``, named after ``name``, the model's files
    and the recipe.
    """
    text_plan = plan(model)
    transformer = model[0]
    transformer_dir = Path(str(transformer.auto_model.name_or_path))
    model_dir = Path(source) if source and Path(source).is_dir() else transformer_dir
    path, manifest = _paths(cache_dir, name, quantize, model_dir, transformer_dir)
    names = text_plan.input_names
    intermediate_size = getattr(transformer.auto_model.config, "intermediate_size", None)

    def export(tmp: Path) -> None:
        example = transformer.tokenizer(
            ["a short text", "a somewhat longer text to pad the first one"],
            padding=True,
            return_tensors="pt",
        )
        transformers_export(
            token_embeddings(transformer.auto_model, names),
            tuple(example[key] for key in names),
            tmp,
            input_names=names,
            output_names=[OUTPUT_NAME],
        )

    def write(target: Path) -> None:
        if quantize:
            exclude = ffn_down_projections(intermediate_size)
            write_atomically(target, then_quantized(export, exclude=exclude))
        else:
            write_atomically(target, export)

    session = load_or_write(path, write)
    # Written after the export it describes, so ``cached`` never finds a manifest alone.
    wanted = text_plan.to_json()

    def write_manifest(tmp: Path) -> None:
        tmp.write_text(wanted, encoding="utf-8")

    try:
        if not manifest.exists() or manifest.read_text(encoding="utf-8") != wanted:
            write_atomically(manifest, write_manifest)
    except OSError as exc:  # the export still serves this process; the next start loads again
        log.warning("text encoder %s: cannot write %s (%s)", name, manifest, exc)
    return OnnxTextEncoder(
        name=name, session=session, plan=text_plan, quantized=quantize, batch_size=batch_size
    )
