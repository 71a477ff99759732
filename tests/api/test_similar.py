"""``GET /api/products/<sku>/similar``: never the product itself, on any page, with filters."""

from __future__ import annotations

import pytest

TSHIRT = "VT-1F455"
RUNNING_SHOE = "VT-1F45F"


def found(client, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["results"]


@pytest.mark.parametrize("using", ["", "&using=text", "&using=image", "&using=fused"])
@pytest.mark.parametrize("sku", [TSHIRT, RUNNING_SHOE])
def test_similar_never_returns_the_product_on_any_page(client, sku, using):
    pages = [
        [r["sku"] for r in found(client, f"/api/products/{sku}/similar?limit=10&offset={o}{using}")]
        for o in (0, 10, 20)
    ]
    whole = [r["sku"] for r in found(client, f"/api/products/{sku}/similar?limit=30{using}")]
    assert pages[0] + pages[1] + pages[2] == whole
    assert sku not in whole and len(set(whole)) == 30


def test_similar_accepts_the_search_filters(client, catalog_rows):
    url = (
        f"/api/products/{RUNNING_SHOE}/similar?category=Shoes&category=Clothing"
        "&price_min=10&price_max=150&in_stock=true&limit=100"
    )
    results = found(client, url)
    expected = {
        sku
        for sku, row in catalog_rows.items()
        if sku != RUNNING_SHOE
        and row["category"] in ("Shoes", "Clothing")
        and 10 <= float(row["price"]) <= 150
        and row["in_stock"] == "true"
    }
    assert {r["sku"] for r in results} == expected
    brand = catalog_rows[RUNNING_SHOE]["brand"]
    same_brand = found(client, f"/api/products/{RUNNING_SHOE}/similar?brand={brand}&limit=100")
    assert same_brand and all(r["product"]["brand"] == brand for r in same_brand)
    assert RUNNING_SHOE not in {r["sku"] for r in same_brand}


def test_similar_facets_count_the_catalog_but_the_product(client, catalog_rows):
    facets = client.get(f"/api/products/{TSHIRT}/similar").get_json()["facets"]
    categories = {c["value"]: c["count"] for c in facets["category"]}
    category = catalog_rows[TSHIRT]["category"]
    total = sum(1 for r in catalog_rows.values() if r["category"] == category)
    assert categories[category] == total - 1


def test_similar_bad_filter_is_400(client):
    response = client.get(f"/api/products/{TSHIRT}/similar?price_min=abc")
    assert response.status_code == 400
    assert "price_min" in response.get_json()["error"]["message"]
