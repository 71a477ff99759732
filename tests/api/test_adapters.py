"""The whole search path on both index adapters: Qdrant Edge and qdrant-client (local mode)."""

from __future__ import annotations

import pytest

from backend.app import create_app
from loaders.pipeline import load_into
from tests.catalogs import good_rows, images_zip, write_csv


@pytest.fixture(params=["edge", "qdrant"])
def small_client(request, settings, tmp_path):
    """An app over the three-product catalog, on each index adapter."""
    adapter_settings = settings.with_(index_backend=request.param)
    summary = load_into(
        adapter_settings, write_csv(tmp_path / "c.csv", good_rows()), images_zip(tmp_path / "i.zip")
    )
    assert summary.indexed == 3
    app = create_app(adapter_settings)
    yield app.test_client()
    app.extensions["vitrine_index"].close()


def found(client, query: str) -> list[str]:
    response = client.get(f"/api/search?{query}")
    assert response.status_code == 200, response.get_json()
    return [r["sku"] for r in response.get_json()["results"]]


def test_search_and_filters_agree_on_both_adapters(small_client):
    assert found(small_client, "q=T恤")[0] == "A-1"
    assert found(small_client, "q=running shoe&mode=text")[0] == "A-2"
    assert set(found(small_client, "q=shoe&mode=text&category=Clothing")) == {"A-1", "A-3"}
    assert found(small_client, "q=shoe&mode=text&in_stock=false") == ["A-2"]
    assert set(found(small_client, "q=shoe&mode=text&price_min=12.5&price_max=19.9")) == {
        "A-1",
        "A-3",
    }
    assert found(small_client, "q=shoe&mode=text&brand=Warmly") == ["A-3"]
    similar = small_client.get("/api/products/A-1/similar").get_json()["results"]
    assert [r["sku"] for r in similar] and "A-1" not in [r["sku"] for r in similar]
    health = small_client.get("/health").get_json()
    assert (health["status"], health["points"], health["indexed"]) == ("ok", 3, 3)
