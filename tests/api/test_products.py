"""Product routes and image files on the loaded demo catalog."""

from __future__ import annotations

TSHIRT = "VT-1F455"


def test_get_product(client, catalog_rows):
    body = client.get(f"/api/products/{TSHIRT}").get_json()
    row = catalog_rows[TSHIRT]
    assert body["sku"] == TSHIRT
    assert body["title"] == row["title"]
    assert body["titles"]["zh"] == row["title_zh"]
    assert body["price"] == float(row["price"]) and body["currency"] == "USD"
    assert body["category"] == row["category"] and body["brand"] == row["brand"]
    assert body["source_id"] == row["source_id"]
    assert body["keywords"] == [k for k in row["keywords"].split("|") if k]


def test_product_image_is_served(client):
    url = client.get(f"/api/products/{TSHIRT}").get_json()["images"][0]
    with client.get(url) as response:
        assert response.status_code == 200
        assert response.mimetype == "image/png"
        assert response.data.startswith(b"\x89PNG")


def test_unknown_sku_is_404(client):
    response = client.get("/api/products/NOPE-1")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "product_not_found"
    assert client.get("/api/products/NOPE-1/similar").status_code == 404


def test_listing_filters_and_pages(client, catalog_rows):
    category = catalog_rows[TSHIRT]["category"]
    expected = sorted(s for s, r in catalog_rows.items() if r["category"] == category)
    body = client.get(f"/api/products?category={category}&limit=100").get_json()
    assert [p["sku"] for p in body["products"]] == expected
    assert body["total"] == len(expected)
    page = client.get(f"/api/products?category={category}&limit=2&offset=2").get_json()
    assert [p["sku"] for p in page["products"]] == expected[2:4]


def test_listing_limit_out_of_range(client):
    assert client.get("/api/products?limit=1000").status_code == 400


def test_similar_never_returns_the_product_itself(client):
    for using in ("", "&using=text", "&using=image", "&using=fused"):
        response = client.get(f"/api/products/{TSHIRT}/similar?limit=20{using}")
        found = [r["sku"] for r in response.get_json()["results"]]
        assert len(found) == 20 and TSHIRT not in found


def test_similar_by_image_finds_related_clothing(client, catalog_rows):
    found = client.get(f"/api/products/{TSHIRT}/similar?using=image&limit=5").get_json()["results"]
    categories = [catalog_rows[r["sku"]]["category"] for r in found]
    assert catalog_rows[TSHIRT]["category"] in categories


def test_similar_honours_filters(client):
    found = client.get(f"/api/products/{TSHIRT}/similar?in_stock=false&limit=50").get_json()
    assert found["results"] and all(r["product"]["in_stock"] is False for r in found["results"])


def test_similar_bad_using_is_400(client):
    response = client.get(f"/api/products/{TSHIRT}/similar?using=smell")
    assert response.status_code == 400


def test_health_counts_products(client, catalog_rows):
    body = client.get("/health").get_json()
    assert body["status"] == "ok"
    assert body["products"] == body["indexed"] == body["points"] == len(catalog_rows)


def test_unknown_route_is_json_404(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
