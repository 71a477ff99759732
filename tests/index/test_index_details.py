"""``details()`` on both adapters: what the admin index page shows of the engine."""

from __future__ import annotations

from tests.index.conftest import PRODUCTS, open_backend


def test_details_name_the_engine_and_its_payload_indexes(index, backend):
    details = index.details()
    assert details.distance == "cosine"
    assert details.segments is not None and details.segments >= 1
    if backend == "edge":
        assert details.engine == "qdrant-edge"
        assert details.payload_indexes == {
            "brand": "keyword",
            "category": "keyword",
            "in_stock": "bool",
            "price": "float",
            "sku": "keyword",
        }
    else:
        # Local mode has no payload indexes (it filters by brute force); a server lists them.
        assert details.engine == "qdrant-local"
        assert details.payload_indexes == {}
    assert index.count() == len(PRODUCTS)


def test_no_details_before_the_collection_exists(backend, tmp_path):
    index = open_backend(backend, tmp_path)
    try:
        assert index.details() is None
    finally:
        index.close()
