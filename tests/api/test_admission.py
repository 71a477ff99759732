"""A server that is full answers a search 503 ``overloaded`` with Retry-After, at once or
after ``VITRINE_SEARCH_QUEUE_S``, instead of queueing it without bound; the next search once
a place is free is answered as usual, and admin and health routes are never held."""

from __future__ import annotations

import time

import pytest

from backend.api.admission import EXTENSION
from backend.app import create_app
from loaders.pipeline import load_into
from tests.catalogs import good_rows, images_zip, write_csv


@pytest.fixture
def small_shop(settings, tmp_path):
    full = settings.with_(max_searches=1, search_queue_s=0.2)
    load_into(full, write_csv(tmp_path / "c.csv", good_rows()), images_zip(tmp_path / "i.zip"))
    app = create_app(full)
    yield app
    app.extensions["vitrine_index"].close()


def test_a_full_server_sheds_searches_with_retry_after(small_shop):
    client = small_shop.test_client()
    assert client.get("/api/search?q=shirt").status_code == 200
    gate = small_shop.extensions[EXTENSION]
    gate.enter()  # a search that is running takes the only place
    try:
        started = time.monotonic()
        for path in ("/api/search?q=shirt", "/api/products/A-1/similar"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            assert response.get_json()["error"]["code"] == "overloaded"
        assert time.monotonic() - started >= 0.4  # each waited its 0.2 s for a place
        refused = client.post("/api/recommend", json={"positive": ["A-1"]})
        assert refused.status_code == 503
        assert client.get("/health").status_code == 200  # not a search: never held
        assert client.get("/api/products/A-1").status_code == 200
    finally:
        gate.leave()
    assert client.get("/api/search?q=shirt").get_json()["results"][0]["sku"] == "A-1"


def test_bad_admission_settings_are_refused(settings):
    with pytest.raises(ValueError, match="VITRINE_MAX_SEARCHES"):
        settings.with_(max_searches=0)
