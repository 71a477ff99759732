"""Facet counts and the price histogram of the port, on both adapters, against plain Python.

Counts are exact on both engines, so they are compared exactly with the catalog's own.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from backend.index.port import Filters, point_id
from tests.index.conftest import PRODUCTS, matches

FACET_FILTERS = {
    "none": Filters(),
    "in stock": Filters(in_stock=True),
    "two categories": Filters(categories=("apparel", "kitchen")),
    "brand and price": Filters(brands=("acme", "bolt"), price_max=30.0),
    "excluded ids": Filters(exclude_ids=(point_id("mug"), point_id("teapot"))),
    "no match": Filters(categories=("garden",)),
}


def expected_counts(field: str, filters: Filters) -> list[tuple[str, int]]:
    counts = Counter(
        getattr(p, field) for p in PRODUCTS if matches(p, filters) and getattr(p, field)
    )
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


@pytest.mark.parametrize("filters", FACET_FILTERS.values(), ids=FACET_FILTERS.keys())
def test_facet_counts_equal_the_matching_products(index, filters):
    assert index.facet("category", filters=filters, limit=20) == expected_counts(
        "category", filters
    )
    # The teapot has no brand: it is counted under no brand value.
    assert index.facet("brand", filters=filters, limit=20) == expected_counts("brand", filters)


def test_facet_keeps_the_most_frequent_values_ties_by_value(index):
    # apparel 4, kitchen 3, shoes 2, home 1; brands acme 4, bolt 2, cobalt 3.
    assert index.facet("category", limit=2) == [("apparel", 4), ("kitchen", 3)]
    assert index.facet("brand", limit=1) == [("acme", 4)]
    top3 = index.facet("category", filters=Filters(in_stock=True), limit=3)
    # In stock: apparel 2 (tee-red, socks), kitchen 2 (mug, teapot), shoes 2: a three-way tie.
    assert top3 == [("apparel", 2), ("kitchen", 2), ("shoes", 2)]


EDGES = (0.0, 12.0, 19.0, 45.0, math.inf)


def expected_histogram(filters: Filters) -> list[int]:
    prices = [p.price for p in PRODUCTS if matches(p, filters) and p.price is not None]
    return [
        sum(1 for price in prices if low <= price < high)
        for low, high in zip(EDGES, EDGES[1:], strict=False)
    ]


@pytest.mark.parametrize("filters", FACET_FILTERS.values(), ids=FACET_FILTERS.keys())
def test_histogram_counts_each_price_once_lower_edge_inclusive(index, filters):
    assert index.histogram("price", EDGES, filters=filters) == expected_histogram(filters)


def test_histogram_edges_and_products_without_a_price(index):
    # Socks at 12.0 open the second bucket, the two at 19.0 the third, the kettle at 45.0 the
    # last, open one; the lamp has no price and is in no bucket.
    assert index.histogram("price", EDGES) == [1, 1, 4, 3]
    assert sum(index.histogram("price", EDGES)) == index.count() - 1
    assert index.histogram("price", (0.0, math.inf), filters=Filters(price_min=100.0)) == [1]


def test_histogram_estimates_only_above_exact_up_to(index):
    exact = index.histogram("price", EDGES)
    # Up to the threshold (inclusive) the counts are exact ...
    assert index.histogram("price", EDGES, exact_up_to=len(PRODUCTS)) == exact
    # ... above it they are the engine's estimates: one per bucket, never negative.
    estimated = index.histogram("price", EDGES, exact_up_to=0)
    assert len(estimated) == len(exact) and all(count >= 0 for count in estimated)
