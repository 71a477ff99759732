"""Request parameters to typed search inputs: filters, mode, page (bad input: InvalidRequest)."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from typing import Protocol, TypeVar

from backend.errors import InvalidRequest
from backend.index.port import Filters
from backend.search.signals import check_fusion_name, parse_weights

MODES = ("hybrid", "text", "image", "fused", "keyword", "multilingual", "names")
MAX_LIMIT = 100
MAX_OFFSET = 10_000
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

T = TypeVar("T")

# The parameters each route reads; anything else is refused, so that a misspelt or
# unsupported filter (``color=red``) is not silently ignored.
FILTER_PARAMS = frozenset({"category", "brand", "price_min", "price_max", "in_stock"})
PAGE_PARAMS = frozenset({"limit", "offset"})
RESULT_PARAMS = (
    frozenset({"fusion", "weights", "diversity", "facets"}) | FILTER_PARAMS | PAGE_PARAMS
)


class Args(Protocol):
    """What we read from query strings and form fields (werkzeug's MultiDict fits)."""

    def get(self, key: str, /) -> str | None: ...

    def getlist(self, key: str) -> list[str]: ...


def check_known(names: Iterable[str], known: Collection[str], *, what: str = "parameter") -> None:
    """InvalidRequest naming the ``names`` not in ``known``, and what is accepted."""
    unknown = sorted(repr(n) if not isinstance(n, str) else n for n in set(names) - set(known))
    if unknown:
        raise InvalidRequest(f"unknown {what} {', '.join(unknown)}; use {', '.join(sorted(known))}")


def _one(args: Args, name: str, convert: Callable[[str], T]) -> T | None:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return convert(raw.strip())
    except ValueError:
        raise InvalidRequest(f"{name} must be {convert.__doc__}, not {raw!r}") from None


def _price(raw: str) -> float:
    """a non-negative number"""
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError(raw)
    return value


def _bool(raw: str) -> bool:
    """true or false"""
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(raw)


def _int(raw: str) -> int:
    """an integer"""
    return int(raw)


def _values(args: Args, name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in args.getlist(name) if v.strip()))


def parse_filters(args: Args) -> Filters:
    """Shopper filters: repeated category/brand (any of), price_min/price_max, in_stock."""
    price_min = _one(args, "price_min", _price)
    price_max = _one(args, "price_max", _price)
    if price_min is not None and price_max is not None and price_min > price_max:
        raise InvalidRequest(f"price_min ({price_min:g}) is greater than price_max ({price_max:g})")
    return Filters(
        categories=_values(args, "category"),
        brands=_values(args, "brand"),
        price_min=price_min,
        price_max=price_max,
        in_stock=_one(args, "in_stock", _bool),
    )


def parse_page(args: Args, *, default_limit: int = 10) -> tuple[int, int]:
    """``limit`` in 1..100 and ``offset`` in 0..10000."""
    limit = _one(args, "limit", _int)
    offset = _one(args, "offset", _int)
    limit = default_limit if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidRequest(f"offset must be between 0 and {MAX_OFFSET}, not {offset}")
    return limit, offset


def parse_mode(args: Args, *, default: str = "hybrid") -> str:
    """``mode``: one of MODES (``default`` when absent)."""
    mode = (args.get("mode") or default).strip().lower()
    if mode not in MODES:
        raise InvalidRequest(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def parse_fusion(args: Args) -> tuple[str | None, dict[str, float] | None]:
    """``fusion`` (rrf | dbsf) and ``weights`` (``keywords:2,text:1``); None when absent."""
    raw_fusion = (args.get("fusion") or "").strip()
    raw_weights = (args.get("weights") or "").strip()
    fusion = check_fusion_name(raw_fusion) if raw_fusion else None
    weights = parse_weights(raw_weights) if raw_weights else None
    return fusion, weights


def _fraction(raw: str) -> float:
    """a number from 0 to 1"""
    value = float(raw)
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ValueError(raw)
    return value


def parse_diversity(args: Args) -> float:
    """``diversity`` in 0..1 (0, the default: rank by relevance alone)."""
    return _one(args, "diversity", _fraction) or 0.0


def parse_facets(args: Args) -> bool:
    """``facets``: whether the answer carries facet counts (true by default)."""
    wanted = _one(args, "facets", _bool)
    return True if wanted is None else wanted
