"""The CPU fast path for text: a sentence-transformers BERT-family model in ONNX Runtime.

``text.load`` hands a loaded ``SentenceTransformer`` here on CPU. Its transformer is exported
once through ``onnx_export.py`` (optionally with int8 weights); tokenizing, the model's own
pooling (mean or CLS) and normalisation run around the session in numpy, texts sorted by
length so each batch pads as little as possible.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders.base import l2_normalize
from backend.encoders.onnx_export import (
    load_or_write,
    onnx_cache_path,
    quantize_int8,
    torch_export,
    write_atomically,
)
from backend.errors import ConfigurationError

if TYPE_CHECKING:
    import torch

# Bump when the export wrapper or the quantisation choices below change.
RECIPE_VERSION = 1
# Encoder-only models whose forward takes input_ids, attention_mask (and token_type_ids).
MODEL_TYPES = frozenset({"bert", "distilbert", "electra", "mpnet", "roberta", "xlm-roberta"})
POOLING_MODES = ("mean", "cls")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "token_embeddings"
_WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")


class UnsupportedModel(ConfigurationError):
    """The sentence-transformers model cannot run through this path (it stays in PyTorch)."""


@dataclass(frozen=True)
class TextOnnxPlan:
    """What the ONNX path needs to know about a sentence-transformers model."""

    weights: tuple[Path, ...]
    input_names: tuple[str, ...]
    pooling: str
    max_seq_length: int
    intermediate_size: int | None


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
    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "is_fast", False) or tokenizer.padding_side != "right":
        raise UnsupportedModel("the ONNX path needs a fast tokenizer that pads on the right")
    folder = Path(str(transformer.auto_model.name_or_path))
    weights = tuple(sorted(path for pattern in _WEIGHT_FILES for path in folder.glob(pattern)))
    if not weights:
        raise UnsupportedModel(f"no weights file found in {folder} to key the ONNX cache on")
    max_length = transformer.max_seq_length or tokenizer.model_max_length
    return TextOnnxPlan(
        weights=weights,
        input_names=tuple(name for name in INPUTS if name in tokenizer.model_input_names),
        pooling=mode,
        max_seq_length=int(max_length),
        intermediate_size=getattr(config, "intermediate_size", None),
    )


class OnnxTextEncoder:
    """A sentence-transformers model whose transformer runs in an ONNX Runtime session."""

    def __init__(
        self,
        *,
        name: str,
        dim: int,
        session: Any,
        tokenizer: Any,
        plan: TextOnnxPlan,
        quantized: bool,
        batch_size: int = 32,
    ) -> None:
        self.name = name
        self.dim = dim
        self.device = "cpu"
        self.runtime = "onnx-int8" if quantized else "onnx"
        self.batch_size = max(1, batch_size)
        self.session = session
        self.tokenizer = tokenizer
        self.plan = plan
        self._pad_id = int(tokenizer.pad_token_id or 0)
        self._pad_type_id = int(getattr(tokenizer, "pad_token_type_id", 0) or 0)
        # Hugging Face fast tokenizers are not safe to share between threads
        # ("Already borrowed"); ONNX Runtime sessions are, so only tokenizing is locked.
        self._lock = threading.Lock()

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            encoded = self.tokenizer(
                texts,
                padding=False,
                truncation="longest_first",
                max_length=self.plan.max_seq_length,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
        ids: list[list[int]] = encoded["input_ids"]
        return ids

    def _pooled(self, batch: Sequence[list[int]]) -> NDArray[np.float32]:
        width = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), width), self._pad_id, np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        # BERT tokenizers give one segment (type 0) for single texts; pads get the pad type.
        token_types = np.where(mask == 1, 0, self._pad_type_id).astype(np.int64)
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


def _token_embeddings(auto_model: torch.nn.Module, input_names: Sequence[str]) -> torch.nn.Module:
    """``auto_model`` with positional inputs and the last hidden state as its only output."""
    import torch

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.model(**dict(zip(input_names, inputs, strict=True)))[0]
            return out

    return TokenEmbeddings()


def _ffn_down_projections(intermediate_size: int | None) -> Any:
    """Names of the MatMuls fed by the feed-forward activations (weights ``(ffn, hidden)``).

    Their inputs carry GELU outliers; in int8 they cost most of the accuracy (MiniLM on the
    demo texts: cosine to float >= 0.995 kept in float, >= 0.988 all quantised).
    """

    def exclude(model: Any) -> list[str]:
        shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
        return [
            node.name
            for node in model.graph.node
            if node.op_type == "MatMul"
            and intermediate_size is not None
            and len(shapes.get(node.input[1], ())) == 2
            and shapes[node.input[1]][0] == intermediate_size
        ]

    return exclude


def _cache_name(name: str, quantized: bool) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[-60:] or "text"
    return f"{slug}-int8" if quantized else slug


def load(
    name: str,
    model: Any,
    *,
    cache_dir: Path,
    quantize: bool,
    batch_size: int = 32,
    text_plan: TextOnnxPlan | None = None,
) -> OnnxTextEncoder:
    """``model`` (a CPU ``SentenceTransformer``) behind an ONNX Runtime session.

    The export lives in ``cache_dir``, named after ``name``, the weights and the recipe.
    """
    text_plan = text_plan or plan(model)
    transformer = model[0]
    recipe = f"text v{RECIPE_VERSION} {'int8' if quantize else 'fp32'} {text_plan.input_names}"
    path = onnx_cache_path(cache_dir, _cache_name(name, quantize), text_plan.weights, recipe=recipe)
    names = text_plan.input_names

    def export(tmp: Path) -> None:
        from torch.jit._trace import TracerWarning

        example = transformer.tokenizer(
            ["a short text", "a somewhat longer text to pad the first one"],
            padding=True,
            return_tensors="pt",
        )
        with warnings.catch_warnings():
            # transformers' mask code branches on shapes that tracing freezes (padding length
            # and is_causal, fixed for an encoder), and the exporter flags its index ops; the
            # export matches PyTorch at every batch and length we test
            # (tests/encoders/test_encoders_text_onnx.py).
            warnings.filterwarnings("ignore", category=TracerWarning, module=r"transformers\.")
            warnings.filterwarnings(
                "ignore",
                "Exporting aten::index operator of advanced indexing",
                UserWarning,
                r"torch\.onnx\.",
            )
            torch_export(
                _token_embeddings(transformer.auto_model, names),
                tuple(example[key] for key in names),
                tmp,
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes={key: {0: "batch", 1: "sequence"} for key in (*names, OUTPUT_NAME)},
            )

    def write(target: Path) -> None:
        if not quantize:
            write_atomically(target, export)
            return

        def export_then_quantize(tmp: Path) -> None:
            float_file = tmp.with_name(tmp.name + ".fp32")
            try:
                export(float_file)
                quantize_int8(
                    float_file, tmp, exclude=_ffn_down_projections(text_plan.intermediate_size)
                )
            finally:
                float_file.unlink(missing_ok=True)

        write_atomically(target, export_then_quantize)

    session = load_or_write(path, write)
    return OnnxTextEncoder(
        name=name,
        dim=int(model.get_embedding_dimension()),
        session=session,
        tokenizer=transformer.tokenizer,
        plan=text_plan,
        quantized=quantize,
        batch_size=batch_size,
    )
