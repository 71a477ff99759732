"""The signals hybrid search fuses, their weights, and the plan a search runs.

A signal is one ranked list: the keyword match, the text vector, the fused vector, the image
vector, the multilingual vector or the names vectors. A ``Plan`` holds the signals of one
search, how they are combined (DBSF or RRF, with per-signal weights) and what explanations
need (the query's terms, its English gloss, why these signals). Weights come from settings
(``VITRINE_HYBRID_WEIGHTS``) and from the request (``weights=keywords:2,text:1``): 0 leaves a
signal out and 1 keeps it under either fusion; RRF takes any other weight, DBSF whole numbers
up to DBSF_MAX_WEIGHT. A request that gives weights other than 0 and 1 without ``fusion``
gets RRF.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backend.errors import InvalidRequest
from backend.index.port import DBSF_MAX_WEIGHT, FUSIONS, DenseQuery, Query, dbsf_weight

SIGNALS = ("keywords", "text", "fused", "image", "multilingual", "names")


@dataclass(frozen=True)
class Signal:
    """One ranked list a search fuses: its name (a weight key) and its engine query."""

    name: str
    query: Query


@dataclass(frozen=True)
class Plan:
    """What one search runs and how its signals are combined."""

    signals: tuple[Signal, ...]
    fusion: str = "rrf"
    weights: tuple[float, ...] | None = None  # one per signal; None: all 1
    terms: tuple[str, ...] = ()  # the query's keyword terms (with the gloss's), for explain
    translated: str | None = None  # the English gloss the vectors were computed from
    why: str | None = None  # why hybrid chose these signals for this query
    # Where diversity measures likeness when no signal has one vector a product (hybrid
    # search that chose keywords alone): the query's text vector.
    likeness: DenseQuery | None = None
    # Hybrid search puts the products titled exactly as the query first: the query's
    # whole-name token (keywords.name_token), which they carry.
    exact_name: str | None = None

    def weight(self, index: int) -> float:
        """The weight of the signal at ``index``."""
        return 1.0 if self.weights is None else self.weights[index]


def parse_weights(raw: str, *, source: str = "weights") -> dict[str, float]:
    """``"keywords:2,text:0.5"`` as a mapping; unknown names and bad numbers: InvalidRequest."""
    weights: dict[str, float] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, value = item.partition(":")
        name = name.strip().lower()
        if not sep or name not in SIGNALS:
            raise InvalidRequest(
                f"{source} takes name:weight pairs with names among {', '.join(SIGNALS)}, "
                f"not {item!r}"
            )
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not 0 <= weight <= 100:
            raise InvalidRequest(f"{source}: the weight of {name} must be a number 0..100")
        weights[name] = weight
    return weights


def check_fusion_name(fusion: str) -> str:
    """A fusion name from a request or settings, lower-cased; unknown names: InvalidRequest."""
    name = fusion.strip().lower()
    if name not in FUSIONS:
        raise InvalidRequest(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
    return name


def weighs(weights: Mapping[str, float]) -> bool:
    """True when some weight is neither 0 (leave out) nor 1 (keep)."""
    return any(w not in (0.0, 1.0) for w in weights.values())


def check_weights(fusion: str, weights: Mapping[str, float], *, source: str = "weights") -> None:
    """InvalidRequest unless ``fusion`` can weigh signals so: DBSF takes whole numbers only."""
    if fusion == "dbsf" and not all(dbsf_weight(w) for w in weights.values()):
        raise InvalidRequest(
            f"{source}: dbsf takes whole-number weights 0..{DBSF_MAX_WEIGHT} (a signal weighted "
            "3 counts three times); other weights need fusion=rrf"
        )


def weighted(
    signals: list[Signal],
    *,
    fusion: str | None,
    default_fusion: str,
    defaults: Mapping[str, float],
    requested: Mapping[str, float] | None,
    terms: tuple[str, ...] = (),
    translated: str | None = None,
    why: str | None = None,
) -> Plan:
    """The plan for ``signals`` under the request's fusion and weights, else the defaults."""
    chosen = {**defaults, **(requested or {})}
    if fusion is None:
        fusion = "rrf" if requested and weighs(requested) else default_fusion
    check_weights(fusion, chosen)
    kept = [s for s in signals if chosen.get(s.name, 1.0) > 0]
    if signals and not kept:
        raise InvalidRequest("every signal of this search has weight 0")
    weights = tuple(chosen.get(s.name, 1.0) for s in kept)
    return Plan(
        signals=tuple(kept),
        fusion=fusion,
        weights=None if all(w == 1.0 for w in weights) else weights,
        terms=terms,
        translated=translated,
        why=why,
    )
