"""Facets in search answers, on both index adapters, checked against SQL over the catalog.

Facet counts come from the engine (facet and count queries); the catalog database is the
source of truth, so every count must equal a GROUP BY over the same filters, each facet
leaving its own filter out (disjunctive faceting).
"""

from __future__ import annotations

import io
import math
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from backend.catalog.db import get_session
from backend.catalog.models import Product
from backend.search.facets import FACET_LIMIT, PRICE_EDGES
from tests.conftest import DEMO


def catalog_counts(app, column, *, leave_out: str, **filters) -> list[dict]:
    """``[{"value", "count"}]`` per value of ``column`` by SQL, most frequent first."""
    with app.app_context():
        rows = get_session().execute(
            sa.select(column, sa.func.count())
            .where(column.is_not(None), *where(leave_out=leave_out, **filters))
            .group_by(column)
        )
        counts = sorted(((value, count) for value, count in rows), key=lambda r: (-r[1], r[0]))
    return [{"value": value, "count": count} for value, count in counts]


def catalog_histogram(app, **filters) -> list[dict]:
    """The price histogram over PRICE_EDGES by SQL."""
    buckets = []
    with app.app_context():
        session = get_session()
        for low, high in zip(PRICE_EDGES, PRICE_EDGES[1:], strict=False):
            clauses = [Product.price >= Decimal(str(low))]
            if not math.isinf(high):
                clauses.append(Product.price < Decimal(str(high)))
            count = session.scalar(
                sa.select(sa.func.count())
                .select_from(Product)
                .where(*clauses, *where(leave_out="price", **filters))
            )
            buckets.append({"min": low, "max": None if math.isinf(high) else high, "count": count})
    return buckets


def where(*, leave_out: str, category=(), brand=(), price_min=None, price_max=None, in_stock=None):
    clauses = []
    if category and leave_out != "category":
        clauses.append(Product.category.in_(category))
    if brand and leave_out != "brand":
        clauses.append(Product.brand.in_(brand))
    if leave_out != "price":
        if price_min is not None:
            clauses.append(Product.price >= Decimal(str(price_min)))
        if price_max is not None:
            clauses.append(Product.price <= Decimal(str(price_max)))
    if in_stock is not None:
        clauses.append(Product.in_stock.is_(in_stock))
    return clauses


def facets_of(app, **params) -> dict:
    response = app.test_client().get("/api/search?" + urlencode(params, doseq=True))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["facets"]


FILTER_CASES = {
    "no filter": {},
    "category, price and stock": {"category": ["Clothing"], "price_max": 50, "in_stock": True},
    "two brands and a price range": {
        "brand": ["Daily Table", "Pavement"],
        "price_min": 5,
        "price_max": 100,
    },
    "categories and out of stock": {"category": ["Food", "Drinks"], "in_stock": False},
}


@pytest.mark.parametrize("filters", FILTER_CASES.values(), ids=FILTER_CASES.keys())
def test_facet_counts_equal_the_catalog(shop, filters):
    params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in filters.items()}
    facets = facets_of(shop, q="gift", **params)
    for field, column in (("category", Product.category), ("brand", Product.brand)):
        counts = catalog_counts(shop, column, leave_out=field, **filters)
        assert facets[field] == top_with_selected(counts, filters.get(field, ()))
    assert facets["price"] == catalog_histogram(shop, **filters)


def top_with_selected(counts: list[dict], selected) -> list[dict]:
    """The FACET_LIMIT most frequent values, plus the selected ones beyond them."""
    top = counts[:FACET_LIMIT]
    shown = {c["value"] for c in top}
    extra = [c for c in counts if c["value"] in selected and c["value"] not in shown]
    return sorted(top + extra, key=lambda c: (-c["count"], c["value"]))


def test_every_search_answer_carries_facets_unless_turned_off(client):
    expected = {"category", "brand", "price"}
    assert set(client.get("/api/search?q=shoe").get_json()["facets"]) == expected
    image = (DEMO / "images" / "1f45f.png").read_bytes()
    answer = client.post(
        "/api/search/image",
        data={"image": (io.BytesIO(image), "q.png"), "facets": "false"},
        content_type="multipart/form-data",
    ).get_json()
    assert answer["facets"] == {} and answer["results"]
    assert client.get("/api/search?q=shoe&facets=false").get_json()["facets"] == {}
    assert client.get("/api/search?q=shoe&facets=maybe").status_code == 400


def test_category_facet_ignores_the_category_filter_but_counts_the_rest(client, catalog_rows):
    """Choosing Shoes still shows how many Clothing items there are (under the other filters)."""
    facets = client.get("/api/search?q=shoe&category=Shoes&in_stock=true").get_json()["facets"]
    categories = {c["value"]: c["count"] for c in facets["category"]}
    in_stock = [r for r in catalog_rows.values() if r["in_stock"] == "true"]
    assert categories["Clothing"] == sum(1 for r in in_stock if r["category"] == "Clothing")
    assert categories["Shoes"] == sum(1 for r in in_stock if r["category"] == "Shoes")
    brands = {b["value"]: b["count"] for b in facets["brand"]}
    assert sum(brands.values()) == categories["Shoes"]  # the brand facet keeps category=Shoes


def test_a_rare_selected_brand_is_listed_with_its_count(client, catalog_rows):
    counts: dict[str, int] = {}
    for row in catalog_rows.values():
        counts[row["brand"]] = counts.get(row["brand"], 0) + 1
    rare = min(counts, key=lambda b: (counts[b], b))
    facets = client.get(f"/api/search?q=gift&brand={rare}").get_json()["facets"]
    assert {"value": rare, "count": counts[rare]} in facets["brand"]
    assert len(facets["brand"]) == FACET_LIMIT + 1
