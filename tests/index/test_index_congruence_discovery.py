"""Both adapters give the same facets, recommendations and diversified pages (congruence).

As in ``test_index_congruence``: same ids in the same order up to score ties, scores to 1e-5.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from backend.index.port import DenseQuery, Mmr, RecommendQuery, VectorIndex, point_id
from tests.index.conftest import BACKENDS, IMAGE, PRODUCTS, SPEC, TEXT, open_backend, to_point
from tests.index.test_index_congruence import FILTERS, UNTIED_KEYWORDS, assert_same_answer

FILTER_IDS = ["none", "category+stock", "brand+price+id"]


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[VectorIndex]]:
    indexes = [open_backend(kind, tmp_path) for kind in BACKENDS]
    for index in indexes:
        index.ensure_collection(SPEC)
        index.upsert([to_point(p) for p in PRODUCTS])
    yield indexes
    for index in indexes:
        index.close()


@pytest.mark.parametrize("filters", FILTERS, ids=FILTER_IDS)
def test_facets_and_histograms_agree(engines, filters):
    edges = (0.0, 15.0, 30.0, 100.0, math.inf)
    for key in ("category", "brand"):
        edge, local = (index.facet(key, filters=filters, limit=3) for index in engines)
        assert edge == local
    edge, local = (index.histogram("price", edges, filters=filters) for index in engines)
    assert edge == local


@pytest.mark.parametrize("filters", FILTERS, ids=FILTER_IDS)
def test_recommendations_agree(engines, filters):
    text = RecommendQuery([TEXT["socks"], TEXT["cap"]], [TEXT["kettle"]], "text")
    image = RecommendQuery([IMAGE["socks"], IMAGE["cap"]], [IMAGE["kettle"]], "image")
    # The examples themselves are left out, as the service does: each positive example scores
    # the same best score, and engines may break that tie either way.
    examples = tuple(point_id(s) for s in ("socks", "cap", "kettle"))
    filters = replace(filters, exclude_ids=(*filters.exclude_ids, *examples))
    for queries in ([text], [text, image]):
        for offset in (0, 3):
            edge, local = (
                index.recommend(queries, filters=filters, limit=3, offset=offset, candidates=5)
                for index in engines
            )
            assert_same_answer(edge, local)


@pytest.mark.parametrize("filters", FILTERS, ids=FILTER_IDS)
def test_diversified_pages_agree(engines, filters):
    query = TEXT["socks"] + TEXT["mug"]
    signals = [DenseQuery(query, "text"), DenseQuery(IMAGE["kettle"], "image"), UNTIED_KEYWORDS]
    for diversity in (0.0, 0.5, 0.9):
        edge, local = (
            index.diversify(
                signals, Mmr(query, "text", diversity), filters=filters, limit=5, candidates=6
            )
            for index in engines
        )
        assert_same_answer(edge, local)
