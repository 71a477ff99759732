"""Facets of a search answer: counts per category and brand and a price histogram.

Computed by the engine (facet and count queries) over the products that match the shopper's
filters, not the words of the query: a vector search ranks every product, so its "matches"
are the filtered catalog. Faceting is disjunctive, as shops do it: each facet ignores its own
filter (the category counts apply the brand, price and stock filters but not the category
one), so a shopper sees how many products each other choice would give.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from backend.index.port import Filters, VectorIndex

# Fixed price bands (1-2.5-5 steps, like most shops): the same buckets for every query, so a
# histogram can be compared across queries and drawn as a slider; the last is open-ended.
PRICE_EDGES = (0.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, math.inf)
FACET_LIMIT = 20
# Above this many matching products the price counts are the engine's estimates: exact
# counting walks every match (25-70 ms at 100k on 2 busy cores), estimates take microseconds.
EXACT_PRICE_COUNTS_UP_TO = 10_000


@dataclass(frozen=True)
class ValueCount:
    """How many matching products have this category or brand."""

    value: str
    count: int


@dataclass(frozen=True)
class PriceBucket:
    """How many matching products cost at least ``min`` and less than ``max`` (None: no top)."""

    min: float
    max: float | None
    count: int


@dataclass(frozen=True)
class Facets:
    """The facets of one search answer."""

    category: list[ValueCount]
    brand: list[ValueCount]
    price: list[PriceBucket]

    def to_json(self) -> dict[str, Any]:
        """``{"category": [{"value", "count"}], "brand": [...], "price": [{"min", "max",
        "count"}]}``."""
        return {
            "category": [{"value": v.value, "count": v.count} for v in self.category],
            "brand": [{"value": v.value, "count": v.count} for v in self.brand],
            "price": [{"min": b.min, "max": b.max, "count": b.count} for b in self.price],
        }


def compute_facets(index: VectorIndex, filters: Filters, *, limit: int = FACET_LIMIT) -> Facets:
    """The facets for ``filters`` (disjunctive: each facet leaves its own filter out)."""
    other_than_category = replace(filters, categories=())
    categories = _values(
        index,
        "category",
        other_than_category,
        selected=filters.categories,
        only=lambda value: replace(other_than_category, categories=(value,)),
        limit=limit,
    )
    other_than_brand = replace(filters, brands=())
    brands = _values(
        index,
        "brand",
        other_than_brand,
        selected=filters.brands,
        only=lambda value: replace(other_than_brand, brands=(value,)),
        limit=limit,
    )
    unpriced = replace(filters, price_min=None, price_max=None)
    counts = index.histogram(
        "price", PRICE_EDGES, filters=unpriced, exact_up_to=EXACT_PRICE_COUNTS_UP_TO
    )
    price = [
        PriceBucket(min=low, max=None if math.isinf(high) else high, count=count)
        for low, high, count in zip(PRICE_EDGES, PRICE_EDGES[1:], counts, strict=False)
    ]
    return Facets(category=categories, brand=brands, price=price)


def _values(
    index: VectorIndex,
    key: str,
    filters: Filters,
    *,
    selected: Sequence[str],
    only: Callable[[str], Filters],
    limit: int,
) -> list[ValueCount]:
    """The ``limit`` most frequent values, plus any selected value outside them (shoppers
    must see the count of what they chose, even when it is rare or zero)."""
    counts = dict(index.facet(key, filters=filters, limit=limit))
    for value in selected:
        if value not in counts:
            counts[value] = index.count(only(value))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [ValueCount(value, count) for value, count in ordered]
