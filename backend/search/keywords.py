"""Sparse keyword vectors: the exact-word signal of hybrid search.

Text is NFKC-normalised and lower-cased; Latin words become tokens (a plural "s" dropped),
and runs containing CJK characters, which have no spaces, become their characters and
character bigrams, so "T恤" in a query matches "T恤" in a title. Tokens are hashed into a
31-bit space; the index applies IDF (Qdrant's sparse ``Modifier.IDF``), so rare words weigh
more. Products get log-scaled term weights per field; queries weigh each token once.

A product's titles (in each language) also get one whole-name token, and a query gets one for
all it typed: a shopper who types a product's exact name ("相机", "camera") finds that product
before the longer ones that merely contain it ("开闪光灯的相机", "camera with flash"), which the
word tokens alone rank first because they repeat the word in their titles and keywords.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Iterable, Mapping

from backend.index.port import SparseVector

_RUN = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]"
)

# How much a token found in each product field counts (titles name the product best).
FIELD_WEIGHTS = {
    "title": 2.0,
    "titles": 2.0,
    "brand": 1.5,
    "keywords": 1.0,
    "category": 1.0,
    "attributes": 1.0,
    "description": 0.5,
    "skus": 2.0,
}


# The fields whose texts are whole names of the product (see name_token); a sku (the
# product's or a variant's) is only a whole name: "MH01" is no word a shopper's query shares.
NAME_FIELDS = ("title", "titles", "skus")
NAME_ONLY_FIELDS = ("skus",)


def _runs(text: str) -> list[str]:
    return _RUN.findall(unicodedata.normalize("NFKC", text).lower())


def _word(run: str) -> str:
    """A Latin run as a token: a plural "s" dropped."""
    if len(run) > 3 and run.endswith("s") and not run.endswith("ss"):
        return run[:-1]
    return run


def tokenize(text: str) -> list[str]:
    """Tokens of a text, in order, with repeats."""
    tokens: list[str] = []
    for run in _runs(text):
        if _CJK.search(run):
            if len(run) > 2:  # shorter runs are already a bigram below
                tokens.append(run)
            tokens.extend(ch for ch in run if _CJK.match(ch))
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            tokens.append(_word(run))
    return tokens


def name_token(text: str) -> str | None:
    """The token of a whole name: its words in order, with case, punctuation and a plural "s"
    ignored ("Running Shoes!" and "running shoe" share one); None for a text without words.
    The leading "=" keeps it apart from word tokens, which have no punctuation."""
    runs = _runs(text)
    if not runs:
        return None
    return "=" + " ".join(run if _CJK.search(run) else _word(run) for run in runs)


def has_cjk(text: str) -> bool:
    """True when the text has Chinese, Japanese or Korean characters."""
    return _CJK.search(text) is not None


def token_id(token: str) -> int:
    """Stable sparse dimension of a token."""
    return zlib.crc32(token.encode("utf-8")) & 0x7FFFFFFF


def _to_sparse(weights: Mapping[int, float]) -> SparseVector:
    indices = sorted(weights)
    return SparseVector(indices=indices, values=[weights[i] for i in indices])


def document_vector(fields: Mapping[str, Iterable[str]]) -> SparseVector:
    """The keyword vector of a product from its text fields (names as in FIELD_WEIGHTS)."""
    counts: dict[int, float] = {}
    for field_name, texts in fields.items():
        weight = FIELD_WEIGHTS.get(field_name, 1.0)
        for text in texts:
            for token in tokenize(text) if field_name not in NAME_ONLY_FIELDS else ():
                tid = token_id(token)
                counts[tid] = counts.get(tid, 0.0) + weight
            name = name_token(text) if field_name in NAME_FIELDS else None
            if name is not None:
                counts.setdefault(token_id(name), weight)
    return _to_sparse({i: 1.0 + math.log(c) for i, c in counts.items()})


# A glossed word may be the wrong sense; the words the shopper typed count more.
TRANSLATED_WEIGHT = 0.5


def query_terms(text: str, *, translated: str | None = None) -> list[str]:
    """The distinct tokens of a query, then those its English gloss adds."""
    typed = tokenize(text)
    extra = tokenize(translated) if translated else []
    return list(dict.fromkeys(typed + extra))


def query_vector(text: str, *, translated: str | None = None, whole: bool = True) -> SparseVector:
    """The keyword vector of a shopper's query: each distinct token once, the tokens only
    its English gloss has at ``TRANSLATED_WEIGHT``, and (``whole``) the token of all it typed
    as a name, which matches products that have that exact title."""
    weights = {token_id(t): TRANSLATED_WEIGHT for t in tokenize(translated or "")}
    weights.update({token_id(t): 1.0 for t in tokenize(text)})
    name = name_token(text) if whole else None
    if name is not None:
        weights[token_id(name)] = 1.0
    return _to_sparse(weights)


def token_vector(token: str) -> SparseVector:
    """The keyword vector of one token alone: it matches the products that carry it (for a
    ``name_token``, the products titled exactly so)."""
    return SparseVector(indices=[token_id(token)], values=[1.0])


def matched_terms(terms: Iterable[str], fields: Mapping[str, Iterable[str]]) -> list[str]:
    """The query terms found among the tokens of a product's text fields, in query order."""
    found = {
        token
        for field_name, texts in fields.items()
        if field_name not in NAME_ONLY_FIELDS
        for text in texts
        for token in tokenize(text)
    }
    return [term for term in terms if term in found]
