"""``POST /api/recommend`` on the demo shop: more of what a shopper liked, less of what not."""

from __future__ import annotations

import pytest

from backend.app import create_app
from loaders.pipeline import load_into
from tests.catalogs import good_rows, images_zip, write_csv

RUNNING_SHOE = "VT-1F45F"
HIGH_HEEL = "VT-1F460"
SOCKS = "VT-1F9E6"
TSHIRT = "VT-1F455"


def recommended(client, **body) -> list[str]:
    response = client.post("/api/recommend", json=body)
    assert response.status_code == 200, response.get_json()
    return [r["sku"] for r in response.get_json()["results"]]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def test_recommend_finds_related_products_never_the_examples(client, catalog_rows):
    found = recommended(client, positive=[RUNNING_SHOE, SOCKS], negative=[TSHIRT], limit=20)
    assert len(found) == 20
    assert not {RUNNING_SHOE, SOCKS, TSHIRT} & set(found)
    top = [catalog_rows[sku]["category"] for sku in found[:5]]
    assert "Shoes" in top or "Clothing" in top


def test_a_negative_example_moves_that_kind_of_product_down(client):
    """Liking a running shoe but skipping a high heel pushes dressy shoes down the list."""
    neighbours = [
        r["sku"]
        for r in client.get(f"/api/products/{HIGH_HEEL}/similar?using=fused&limit=6").get_json()[
            "results"
        ]
        if r["sku"] != RUNNING_SHOE
    ][:5]
    alone = recommended(client, positive=[RUNNING_SHOE], limit=50)
    with_negative = recommended(client, positive=[RUNNING_SHOE], negative=[HIGH_HEEL], limit=50)
    assert HIGH_HEEL in alone[:10] and HIGH_HEEL not in with_negative
    alone = [sku for sku in alone if sku != HIGH_HEEL]  # ranks among the same products
    compared = [sku for sku in neighbours if sku in alone[:20]]
    assert len(compared) >= 2  # the high heel's look-alikes were near the top before
    moves = {}
    for sku in compared:
        before = alone.index(sku)
        after = with_negative.index(sku) if sku in with_negative else len(with_negative)
        moves[sku] = after - before
    # None moves up; those nearer the high heel than the running shoe move down.
    assert all(move >= 0 for move in moves.values()), moves
    assert any(move > 0 for move in moves.values()), moves


@pytest.mark.parametrize(
    "filters",
    [
        {"category": "Shoes"},
        {"category": ["Clothing", "Shoes"], "in_stock": True},
        {"brand": "Pavement", "price_max": 150},
        {"price_min": 10, "price_max": 60, "in_stock": False},
    ],
)
def test_recommend_filters_hold_on_both_adapters(shop, catalog_rows, filters):
    client = shop.test_client()
    body = client.post(
        "/api/recommend", json={"positive": [RUNNING_SHOE], "filters": filters, "limit": 100}
    ).get_json()
    categories = filters.get("category")
    categories = [categories] if isinstance(categories, str) else categories
    expected = {
        sku
        for sku, row in catalog_rows.items()
        if sku != RUNNING_SHOE
        and (not categories or row["category"] in categories)
        and ("brand" not in filters or row["brand"] == filters["brand"])
        and float(row["price"]) >= filters.get("price_min", 0)
        and float(row["price"]) <= filters.get("price_max", float("inf"))
        and ("in_stock" not in filters or (row["in_stock"] == "true") == filters["in_stock"])
    }
    # Every matching product is ranked (filters inside the query, not applied afterwards).
    assert {r["sku"] for r in body["results"]} == expected


def test_recommend_pages_do_not_overlap(client):
    body = {"positive": [RUNNING_SHOE], "negative": [SOCKS]}
    pages = [recommended(client, **body, limit=5, offset=o) for o in (0, 5, 10)]
    assert pages[0] + pages[1] + pages[2] == recommended(client, **body, limit=15)


def test_recommend_answer_has_facets_without_the_examples(client, catalog_rows):
    answer = client.post(
        "/api/recommend", json={"positive": [RUNNING_SHOE], "filters": {"category": "Shoes"}}
    ).get_json()
    shoes = {c["value"]: c["count"] for c in answer["facets"]["category"]}["Shoes"]
    assert shoes == sum(1 for r in catalog_rows.values() if r["category"] == "Shoes") - 1
    off = client.post("/api/recommend", json={"positive": [RUNNING_SHOE], "facets": False})
    assert off.get_json()["facets"] == {}


@pytest.mark.parametrize(
    ("body", "status", "code", "named"),
    [
        ({}, 400, "invalid_request", "positive"),
        ({"positive": []}, 400, "invalid_request", "positive"),
        ({"positive": "VT-1F45F"}, 400, "invalid_request", "positive"),
        ({"positive": [RUNNING_SHOE, "NOPE-1"]}, 404, "product_not_found", "NOPE-1"),
        ({"positive": [RUNNING_SHOE], "negative": ["NOPE-2"]}, 404, "product_not_found", "NOPE-2"),
        ({"positive": [f"S-{i}" for i in range(21)]}, 400, "invalid_request", "at most 20"),
        ({"positive": [SOCKS], "negative": [SOCKS]}, 400, "invalid_request", SOCKS),
        ({"positive": [SOCKS], "filters": {"price_max": "cheap"}}, 400, "invalid_request", "cheap"),
        ({"positive": [SOCKS], "filters": {"colour": "red"}}, 400, "invalid_request", "colour"),
        ({"positive": [SOCKS], "filters": {"in_stock": "no?"}}, 400, "invalid_request", "in_stock"),
        (
            {"positive": [SOCKS], "filters": {"price_min": 9, "price_max": 1}},
            400,
            "invalid_request",
            "price_min",
        ),
        ({"positive": [SOCKS], "filters": ["Shoes"]}, 400, "invalid_request", "filters"),
        ({"positive": [SOCKS], "limit": 0}, 400, "invalid_request", "limit"),
        ({"positive": [SOCKS], "limit": 101}, 400, "invalid_request", "limit"),
        ({"positive": [SOCKS], "diversity": 2}, 400, "invalid_request", "diversity"),
        ({"positive": [SOCKS], "limit": {"n": 3}}, 400, "invalid_request", "limit"),
        ({"positive": [SOCKS], "sort": "price"}, 400, "invalid_request", "sort"),
    ],
)
def test_bad_recommend_requests_name_the_problem(client, body, status, code, named):
    error = error_of(client.post("/api/recommend", json=body), status)
    assert error["code"] == code and named in error["message"]


def test_recommend_needs_a_json_object(client):
    error = error_of(client.post("/api/recommend", data="positive=x"), 400)
    assert error["code"] == "invalid_request"


@pytest.fixture
def headless_client(settings, tmp_path):
    """The three-product shop without a fusion head: recommendations use text and image."""
    plain = settings.with_(fusion_head="none")
    summary = load_into(
        plain, write_csv(tmp_path / "c.csv", good_rows()), images_zip(tmp_path / "i.zip")
    )
    assert summary.indexed == 3
    app = create_app(plain)
    yield app.test_client()
    app.extensions["vitrine_index"].close()


def test_without_a_fusion_head_recommend_fuses_text_and_image(headless_client):
    assert set(recommended(headless_client, positive=["A-1"])) == {"A-2", "A-3"}
    assert recommended(headless_client, positive=["A-1"], filters={"brand": "Warmly"}) == ["A-3"]
    assert recommended(headless_client, positive=["A-1"], negative=["A-3"]) == ["A-2"]
