"""Deleting a product removes it from the catalog and the index; the index can be inspected
(collection, encoders, payload indexes, counts, one point's payload and vector norms)."""

from __future__ import annotations

import pytest

from tests.api.conftest import csv_bytes, demo_images, demo_rows, zip_bytes


@pytest.fixture
def loaded(admin):
    rows = demo_rows(3)
    job = admin.upload_and_wait(
        csv_bytes(rows), images=zip_bytes(demo_images(r["image"] for r in rows))
    )
    assert job["counts"]["created"] == 3
    return admin, rows


def test_delete_removes_the_product_from_catalog_and_search(loaded):
    admin, rows = loaded
    umbrella = rows[0]["sku"]
    assert admin.client.get("/api/search?q=umbrella&limit=1").get_json()["results"][0]["sku"] == (
        umbrella
    )

    response = admin.client.delete(f"/api/admin/products/{umbrella}", headers=admin.headers)
    assert response.status_code == 200
    assert response.get_json() == {"sku": umbrella, "catalog": "deleted", "index": "deleted"}

    assert admin.client.get(f"/api/products/{umbrella}").status_code == 404
    found = admin.client.get("/api/search?q=umbrella&limit=10").get_json()["results"]
    assert umbrella not in [r["sku"] for r in found]
    health = admin.client.get("/health").get_json()
    assert health["products"] == health["points"] == 2
    point = admin.client.get(f"/api/admin/index/points/{umbrella}", headers=admin.headers)
    assert point.status_code == 404


def test_delete_unknown_product_is_404(admin):
    response = admin.client.delete("/api/admin/products/NOPE", headers=admin.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "product_not_found"


def test_index_overview(loaded):
    admin, _ = loaded
    body = admin.client.get("/api/admin/index", headers=admin.headers).get_json()
    assert body["backend"] == "edge"
    assert body["engine"]["engine"] == "qdrant-edge"
    assert body["engine"]["payload_indexes"] == {
        "brand": "keyword",
        "category": "keyword",
        "in_stock": "bool",
        "price": "float",
        "sku": "keyword",
    }
    vectors = body["collection"]["vectors"]
    assert vectors["text"] == {
        "size": 384,
        "encoder": "minilm+wordnet-3.0",
        "distance": "cosine",
        "points": 3,
    }
    assert vectors["multilingual"] == {
        "size": 384,
        "encoder": "multilingual-e5-small-q4",
        "distance": "cosine",
        "points": 3,
    }
    # The names vectors hold several rows a product, compared by the nearest.
    assert vectors["names"] == {
        "size": 384,
        "encoder": "multilingual-e5-small-q4",
        "distance": "cosine",
        "points": 3,
        "multi": True,
    }
    assert vectors["image"]["encoder"] == body["encoders"]["image"]
    assert body["collection"]["sparse_vectors"] == {"keywords": {"points": 3}}
    assert body["collection"]["points"] == 3
    assert body["catalog"] == {"products": 3, "indexed": 3, "pending": 0}


def test_index_point_shows_payload_and_vector_norms(loaded):
    admin, rows = loaded
    sku = rows[1]["sku"]
    body = admin.client.get(f"/api/admin/index/points/{sku}", headers=admin.headers).get_json()
    assert body["payload"]["sku"] == sku and body["payload"]["title"] == rows[1]["title"]
    assert body["payload"]["price"] == float(rows[1]["price"])
    assert body["vectors"]["text"]["size"] == 384
    for name, vector in body["vectors"].items():
        norms = vector["norms"] if name == "names" else [vector["norm"]]
        assert norms == pytest.approx([1.0] * len(norms), abs=1e-3)  # L2-normalised
    # One row for each of the product's names: its titles and keywords.
    keywords = [k for k in rows[1]["keywords"].split("|") if k]
    called = {n.casefold() for n in (rows[1]["title"], rows[1]["title_zh"], *keywords)}
    assert body["vectors"]["names"]["rows"] == len(called)
    assert body["missing_vectors"] == []
    assert body["catalog"]["current"] is True
