"""Recent queries' vectors are kept: a page turn or a filter click is not encoded again."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from backend.api.results import search_service
from backend.index.port import Filters
from backend.search.query_cache import QueryVectors


def ids(hits) -> list[str]:
    return [hit.id for hit in hits]


def test_a_page_turn_and_a_filter_reuse_the_query_vectors_and_rank_as_encoding_anew(demo_app):
    with demo_app.app_context():
        service = search_service()
        cache = service.query_vectors
        assert cache is not None
        words = "a warm woollen hat for cold days"  # a description: text vector (+ others)
        before = (cache.hits, cache.misses)
        first = service.search_text(words, limit=5)
        after_first = (cache.hits, cache.misses)
        second = service.search_text(words, limit=5, offset=5)
        filtered = service.search_text(words, filters=Filters(in_stock=True), limit=5)
        assert after_first[1] > before[1]  # the first search encoded the words
        assert cache.misses == after_first[1]  # the next two encoded nothing
        assert cache.hits > after_first[0]
        uncached = replace(service, query_vectors=None)
        assert ids(first) == ids(uncached.search_text(words, limit=5))
        assert ids(second) == ids(uncached.search_text(words, limit=5, offset=5))
        assert ids(filtered) == ids(
            uncached.search_text(words, filters=Filters(in_stock=True), limit=5)
        )


def test_the_least_recently_used_vector_goes_first_when_the_cache_is_full():
    cache = QueryVectors(2)
    computed: list[str] = []

    def encode(word: str):
        def compute():
            computed.append(word)
            return np.full(3, len(computed), np.float32)

        return compute

    cache.get("a", encode("a"))
    cache.get("b", encode("b"))
    cache.get("a", encode("a"))  # a is used again: b is now the oldest
    cache.get("c", encode("c"))  # evicts b
    cache.get("a", encode("a"))
    cache.get("b", encode("b"))
    assert computed == ["a", "b", "c", "b"]
    assert len(cache) == 2
    with pytest.raises(ValueError):
        cache.get("b", encode("b"))[0] = 9.0  # a shared vector cannot be changed by a caller


def test_a_cache_of_size_zero_encodes_every_time():
    cache = QueryVectors(0)
    calls = []
    for _ in range(3):
        cache.get("a", lambda: calls.append(1) or np.zeros(2, np.float32))
    assert len(calls) == 3 and len(cache) == 0
