"""The VectorIndex port's behaviour, run on both adapters (Qdrant Edge, qdrant-client local).

With ten points both engines search exactly (Edge before ``optimize()`` is brute force, local
mode always is), so results are compared exactly; only scores are compared with a tolerance.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from backend.errors import IndexConfigMismatch, IndexUnavailable
from backend.index.port import (
    CollectionSpec,
    DenseQuery,
    Filters,
    Hit,
    Point,
    SparseQuery,
    point_id,
)
from tests.index.conftest import (
    BY_SKU,
    IMAGE,
    PRODUCTS,
    SPEC,
    TEXT,
    forget_record,
    matches,
    open_backend,
    sparse,
    to_point,
)

REPO = Path(__file__).resolve().parents[2]


def skus(hits: list[Hit]) -> list[str]:
    return [h.payload["sku"] for h in hits]


def text_query(sku: str) -> DenseQuery:
    return DenseQuery(vector=TEXT[sku], using="text")


# -- collection lifecycle ---------------------------------------------------------------------


def test_new_index_has_no_collection_until_ensured(backend, tmp_path):
    index = open_backend(backend, tmp_path)
    try:
        assert index.info() is None
        index.ping()
        with pytest.raises(IndexUnavailable, match="no collection|not found"):
            index.search(text_query("mug"))
    finally:
        index.close()


def test_info_reports_spec_and_points(index):
    info = index.info()
    assert info is not None
    assert info.points == len(PRODUCTS)
    assert dict(info.spec.dense) == dict(SPEC.dense)
    assert dict(info.spec.encoders) == dict(SPEC.encoders)
    assert set(info.spec.sparse) == {"keywords"}


def test_close_and_reopen_keeps_points(index, backend, tmp_path):
    index.close()
    reopened = open_backend(backend, tmp_path)
    try:
        reopened.ensure_collection(SPEC)
        assert reopened.count() == len(PRODUCTS)
        assert skus(reopened.search(text_query("kettle"), limit=1)) == ["kettle"]
    finally:
        reopened.close()


def test_drop_then_ensure_builds_the_collection_anew_for_another_spec(index, backend, tmp_path):
    wanted = CollectionSpec(
        dense={**SPEC.dense, "fused": 4},
        encoders={**SPEC.encoders, "fused": "fusion-test"},
        sparse=SPEC.sparse,
    )
    index.drop()
    assert index.info() is None
    index.ensure_collection(wanted)
    assert index.count() == 0
    index.upsert([to_point(PRODUCTS[0])])
    index.close()
    reopened = open_backend(backend, tmp_path)
    try:
        reopened.ensure_collection(wanted)  # the new record survives a reopen
        info = reopened.info()
        assert info is not None and info.points == 1 and info.spec.dense["fused"] == 4
    finally:
        reopened.close()


def reopened_with(index, backend, tmp_path, name, values, *, multi=False):
    """The index built anew with one more 8-d vector ``name`` kept on disk (``values`` by
    sku), closed and opened again for the same spec; returns it and the spec."""
    wanted = CollectionSpec(
        dense={**SPEC.dense, name: 8},
        encoders={**SPEC.encoders, name: "e5-test"},
        sparse=SPEC.sparse,
        on_disk=frozenset({name}),
        multi=frozenset({name} if multi else ()),
    )
    index.drop()
    index.ensure_collection(wanted)
    index.upsert(
        [
            Point(p.id, {**to_point(p).vectors, name: values[p.sku]}, payload=p.payload())
            for p in PRODUCTS
        ]
    )
    index.close()
    reopened = open_backend(backend, tmp_path)
    reopened.ensure_collection(wanted)  # the record keeps what the collection holds
    return reopened, wanted


def test_a_vector_kept_on_disk_is_written_searched_and_reopened(index, backend, tmp_path):
    reopened, wanted = reopened_with(index, backend, tmp_path, "multilingual", TEXT)
    try:
        for sku in ("mug", "lamp"):
            hits = reopened.search(DenseQuery(vector=TEXT[sku], using="multilingual"), limit=3)
            assert skus(hits)[0] == sku and hits[0].score == pytest.approx(1.0, abs=1e-5)
        # Where vectors are kept is not part of what the collection is checked against.
        reopened.ensure_collection(replace(wanted, on_disk=frozenset()))
    finally:
        reopened.close()


def test_a_multi_vector_scores_a_point_by_its_nearest_row(index, backend, tmp_path):
    # Each product has its own text vector as one row and the next product's as another, so
    # a query equal to a product's vector finds two points, both with a perfect row.
    next_of = {p.sku: PRODUCTS[(i + 1) % len(PRODUCTS)].sku for i, p in enumerate(PRODUCTS)}
    rows = {p.sku: np.stack([TEXT[p.sku], TEXT[next_of[p.sku]]]) for p in PRODUCTS}
    reopened, wanted = reopened_with(index, backend, tmp_path, "names", rows, multi=True)
    try:
        # Settings that want one vector a point there are refused: the engine would not take it.
        with pytest.raises(IndexConfigMismatch) as caught:
            reopened.ensure_collection(replace(wanted, multi=frozenset()))
        assert "names=e5-test (8-d rows)" in caught.value.message
        assert "names=e5-test (8-d)," in caught.value.message
        hits = reopened.search(DenseQuery(vector=TEXT["mug"], using="names"), limit=3)
        before = PRODUCTS[[p.sku for p in PRODUCTS].index("mug") - 1].sku
        assert set(skus(hits)[:2]) == {"mug", before}
        # Rows are kept in 16 bits: a perfect row scores 1 within their precision.
        assert [h.score for h in hits[:2]] == pytest.approx([1.0, 1.0], abs=2e-3)
        assert hits[2].score < 0.99
        stored = reopened.retrieve([BY_SKU["mug"].id], vectors=["names"])[0].vectors["names"]
        assert stored.shape == (2, 8)
        # Within another query's best three: only those, ranked by their nearest row.
        lamp = DenseQuery(vector=TEXT["lamp"], using="text")
        within = DenseQuery(vector=TEXT["mug"], using="names", within=lamp, within_limit=3)
        found = reopened.search(within, limit=3)
        cos = {sku: v / np.linalg.norm(v) for sku, v in TEXT.items()}
        nearest = sorted(cos, key=lambda sku: -float(cos[sku] @ cos["lamp"]))[:3]
        by_row = sorted(
            nearest,
            key=lambda sku: -max(float(r @ cos["mug"]) for r in (cos[sku], cos[next_of[sku]])),
        )
        assert skus(found) == by_row
        # A page deeper than the candidates asked for widens them (or it would come back short).
        assert len(reopened.search(within, limit=6)) == 6
        fused = reopened.hybrid([within, lamp], fusion="dbsf", limit=3, candidates=3)
        assert skus(fused)[0] in nearest
        with pytest.raises(ValueError, match="8"):
            reopened.upsert([Point(BY_SKU["mug"].id, {"names": np.ones((2, 5), np.float32)})])
    finally:
        reopened.close()


def test_other_text_encoder_is_refused_naming_both(index, backend, tmp_path):
    index.close()
    reopened = open_backend(backend, tmp_path)
    wanted = CollectionSpec(
        dense=SPEC.dense, encoders={**SPEC.encoders, "text": "e5-small"}, sparse=SPEC.sparse
    )
    try:
        with pytest.raises(IndexConfigMismatch) as caught:
            reopened.ensure_collection(wanted)
    finally:
        reopened.close()
    message = caught.value.message
    assert "text=minilm" in message and "text=e5-small" in message
    assert "vitrine reindex" in message and "VITRINE_TEXT_ENCODER=minilm" in message


def test_other_vector_size_is_refused_naming_both(index):
    wanted = CollectionSpec(dense={**SPEC.dense, "image": 16}, encoders=SPEC.encoders)
    with pytest.raises(IndexConfigMismatch) as caught:
        index.ensure_collection(wanted)
    assert "(4-d)" in caught.value.message and "(16-d)" in caught.value.message


def test_collection_without_a_record_is_refused(index, backend, tmp_path):
    index.close()
    forget_record(backend, tmp_path)
    reopened = open_backend(backend, tmp_path)
    try:
        with pytest.raises(IndexConfigMismatch, match="no record of the encoders"):
            reopened.ensure_collection(SPEC)
    finally:
        reopened.close()


def test_ensure_collection_twice_with_the_same_spec_is_fine(index):
    index.ensure_collection(SPEC)
    assert index.count() == len(PRODUCTS)


# -- writes and reads ---------------------------------------------------------------------------


def test_upsert_same_id_twice_keeps_one_point(index):
    changed = Point(
        id=point_id("mug"),
        vectors={"text": TEXT["mug"], "image": IMAGE["mug"]},
        payload={**BY_SKU["mug"].payload(), "title": "Big coffee mug"},
    )
    index.upsert([changed])
    assert index.count() == len(PRODUCTS)
    (stored,) = index.retrieve([point_id("mug")])
    assert stored.payload["title"] == "Big coffee mug"


def test_retrieve_returns_the_written_vectors_normalised(index):
    # Cosine distance makes both engines store unit vectors, so that is what comes back.
    ids = [point_id("boot"), point_id("nonexistent"), point_id("lamp")]
    stored = index.retrieve(ids, vectors=["text", "image"])
    assert [s.payload["sku"] for s in stored] == ["boot", "lamp"]
    for point in stored:
        sku = point.payload["sku"]
        for name, written in (("text", TEXT[sku]), ("image", IMAGE[sku])):
            got = point.vectors[name]
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, written / np.linalg.norm(written), atol=1e-6)
    assert index.retrieve([point_id("boot")])[0].vectors == {}


def test_delete_removes_points_and_ignores_unknown_ids(index):
    index.delete([point_id("mug"), point_id("nonexistent")])
    assert index.count() == len(PRODUCTS) - 1
    assert index.retrieve([point_id("mug")]) == []
    assert "mug" not in skus(index.search(text_query("mug"), limit=20))


def test_wrong_vector_size_is_a_value_error(index):
    with pytest.raises(ValueError, match="expects 8"):
        index.search(DenseQuery(vector=[1.0, 0.0, 0.0], using="text"))


# -- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", [p.sku for p in PRODUCTS])
def test_search_finds_the_exact_vector_first(index, sku):
    hits = index.search(text_query(sku), limit=3)
    assert hits[0].payload["sku"] == sku
    assert hits[0].id == point_id(sku)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].score >= hits[1].score >= hits[2].score


def test_search_by_image_vector(index):
    assert skus(index.search(DenseQuery(IMAGE["boot"], "image"), limit=1)) == ["boot"]


def test_sparse_search_ranks_the_rare_token_first(index):
    # "acme" is on four products, "teapot" on one; each matching product shares exactly one
    # query token, so only IDF can put the teapot first.
    hits = index.search(SparseQuery(sparse(["acme", "teapot"])), limit=10)
    assert skus(hits)[0] == "teapot"
    assert set(skus(hits)) == {"teapot"} | {p.sku for p in PRODUCTS if p.brand == "acme"}
    assert hits[0].score > hits[1].score


FILTER_CASES = {
    "one category": Filters(categories=("apparel",)),
    "two categories": Filters(categories=("apparel", "kitchen")),
    "one brand": Filters(brands=("acme",)),
    "two brands": Filters(brands=("acme", "cobalt")),
    "price from (inclusive)": Filters(price_min=19.0),
    "price up to (inclusive)": Filters(price_max=19.0),
    "price between": Filters(price_min=10.0, price_max=50.0),
    "in stock": Filters(in_stock=True),
    "out of stock": Filters(in_stock=False),
    "excluded ids": Filters(exclude_ids=(point_id("mug"), point_id("boot"))),
    "no match": Filters(categories=("garden",)),
    "combined": Filters(
        categories=("apparel", "kitchen"),
        brands=("acme", "bolt"),
        price_max=30.0,
        in_stock=True,
        exclude_ids=(point_id("tee-red"),),
    ),
}


@pytest.mark.parametrize("filters", FILTER_CASES.values(), ids=FILTER_CASES.keys())
def test_filters_are_applied_inside_the_query(index, filters):
    expected = {p.sku for p in PRODUCTS if matches(p, filters)}
    # limit = the number of matches: a filter applied after a top-k cut would come up short.
    limit = max(len(expected), 1)
    dense = index.search(text_query("lamp"), filters=filters, limit=limit)
    assert set(skus(dense)) == expected
    keyword = SparseQuery(sparse(["apparel", "kitchen", "shoes", "home"]))
    assert set(skus(index.search(keyword, filters=filters, limit=limit))) == expected
    fused = index.hybrid([text_query("lamp"), keyword], filters=filters, limit=limit, candidates=3)
    assert set(skus(fused)) == expected
    assert index.count(filters) == len(expected)


def test_price_filter_leaves_out_products_without_a_price(index):
    hits = index.search(text_query("lamp"), filters=Filters(price_min=0.0), limit=20)
    assert "lamp" not in skus(hits)
    assert len(hits) == len(PRODUCTS) - 1


def test_search_pages_concatenate_to_the_top_results(index):
    top = index.search(text_query("socks"), limit=6)
    pages = [index.search(text_query("socks"), limit=2, offset=o) for o in (0, 2, 4)]
    assert [h.id for page in pages for h in page] == [h.id for h in top]


# -- hybrid -------------------------------------------------------------------------------------


def test_hybrid_puts_the_product_first_in_both_signals_first(index):
    queries = [text_query("kettle"), SparseQuery(sparse(["steel", "kettle"]))]
    hits = index.hybrid(queries, limit=5)
    assert skus(hits)[0] == "kettle"
    # RRF with k=60 and 0-based ranks: first in both lists scores 2/60 on both engines.
    assert hits[0].score == pytest.approx(2 / 60, rel=1e-6)


def test_hybrid_keeps_a_product_found_by_one_signal_only(index):
    dense_top3 = skus(index.search(text_query("boot"), limit=3))
    assert "teapot" not in dense_top3
    queries = [text_query("boot"), SparseQuery(sparse(["teapot"]))]
    hits = index.hybrid(queries, limit=3, candidates=3)
    assert set(skus(hits)) == {"boot", "teapot", dense_top3[1]}
    # Each signal's first gets 1/60 (a tie, in either order), the dense runner-up 1/61.
    scores = {h.payload["sku"]: h.score for h in hits}
    assert scores["boot"] == pytest.approx(1 / 60, rel=1e-6)
    assert scores["teapot"] == pytest.approx(1 / 60, rel=1e-6)
    assert scores[dense_top3[1]] == pytest.approx(1 / 61, rel=1e-6)


def test_hybrid_pages_concatenate_to_the_top_six_without_duplicates(index):
    queries = [text_query("cap"), SparseQuery(sparse(["apparel", "acme", "shirt"]))]
    top = index.hybrid(queries, limit=6)
    pages = [index.hybrid(queries, limit=2, offset=o) for o in (0, 2, 4)]
    paged = [h.id for page in pages for h in page]
    assert paged == [h.id for h in top]
    assert len(set(paged)) == 6


def test_hybrid_weights_divide_each_signals_rank(index):
    queries = [text_query("kettle"), SparseQuery(sparse(["steel", "kettle"]))]
    assert skus(index.search(queries[1], limit=3)) == ["kettle"]
    runner_up = skus(index.search(queries[0], limit=2))[1]
    hits = index.hybrid(queries, weights=[2.0, 0.5], limit=2)
    assert skus(hits) == ["kettle", runner_up]
    # 1 / (59 + rank / weight): first in both, then second in the dense signal only.
    assert hits[0].score == pytest.approx(1 / 59.5 + 1 / 61, rel=1e-6)
    assert hits[1].score == pytest.approx(1 / 60, rel=1e-6)


def test_hybrid_weight_zero_leaves_the_order_to_the_other_signal(index):
    dense = skus(index.search(text_query("boot"), limit=3))
    queries = [text_query("boot"), SparseQuery(sparse(["teapot"]))]
    assert skus(index.hybrid(queries, weights=[1.0, 0.0], limit=3)) == dense


def test_hybrid_dbsf_puts_the_product_first_in_both_signals_first(index):
    queries = [text_query("kettle"), SparseQuery(sparse(["steel", "kettle"]))]
    hits = index.hybrid(queries, fusion="dbsf", limit=5)
    assert skus(hits)[0] == "kettle"
    assert hits[0].score > hits[1].score


def dbsf_normalised(hits: list[Hit]) -> dict[str, float]:
    """Each hit's score mapped as DBSF maps it: mean ± 3 standard deviations to 0..1."""
    scores = np.array([h.score for h in hits], dtype=np.float64)
    low = scores.mean() - 3 * scores.std(ddof=1)
    high = scores.mean() + 3 * scores.std(ddof=1)
    return {h.payload["sku"]: (h.score - low) / (high - low) for h in hits}


def test_hybrid_dbsf_weight_counts_a_signal_that_many_times(index):
    dense, keyword = text_query("boot"), SparseQuery(sparse(["apparel", "acme", "shirt"]))
    lists = [dbsf_normalised(index.search(q, limit=6)) for q in (dense, keyword)]
    equal = index.hybrid([dense, keyword], fusion="dbsf", limit=6, candidates=6)
    weighted = index.hybrid([dense, keyword], fusion="dbsf", weights=[3, 1], limit=6, candidates=6)
    # Equal weights let the keyword match come first; three times the dense signal puts the
    # dense signal's own first first, with three times its normalised score.
    assert skus(equal)[0] == "tee-red"
    assert skus(weighted)[0] == "boot"
    for hit in weighted:
        sku = hit.payload["sku"]
        expected = 3 * lists[0].get(sku, 0.0) + lists[1].get(sku, 0.0)
        assert hit.score == pytest.approx(expected, rel=1e-4)


def test_hybrid_dbsf_weight_zero_leaves_the_signal_out(index):
    queries = [text_query("boot"), SparseQuery(sparse(["teapot"]))]
    hits = index.hybrid(queries, fusion="dbsf", weights=[1, 0], limit=3)
    assert skus(hits) == skus(index.search(queries[0], limit=3))


@pytest.mark.parametrize(
    ("fusion", "weights"),
    [
        ("max", None),
        ("dbsf", [1.5, 1.0]),
        ("dbsf", [9, 1]),
        ("dbsf", [0, 0]),
        ("dbsf", [1.0]),
        ("rrf", [1.0]),
        ("rrf", [-1, 1]),
    ],
)
def test_hybrid_refuses_fusions_it_cannot_run(index, fusion, weights):
    queries = [text_query("kettle"), SparseQuery(sparse(["kettle"]))]
    with pytest.raises(ValueError):
        index.hybrid(queries, fusion=fusion, weights=weights)


def test_hybrid_needs_a_query(index):
    with pytest.raises(ValueError):
        index.hybrid([])


# -- lifecycle, locking, threads ----------------------------------------------------------------


def test_optimize_keeps_answers(index):
    index.optimize()
    assert skus(index.search(text_query("cap"), limit=1)) == ["cap"]
    assert index.count() == len(PRODUCTS)


def test_closed_index_is_unavailable(index):
    index.close()
    index.close()  # idempotent
    with pytest.raises(IndexUnavailable, match="closed"):
        index.search(text_query("mug"))
    with pytest.raises(IndexUnavailable):
        index.ping()
    with pytest.raises(IndexUnavailable):
        index.count()


_OPEN_FROM_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from backend.errors import IndexUnavailable
from tests.index.conftest import open_backend
try:
    open_backend(sys.argv[1], Path(sys.argv[2])).close()
except IndexUnavailable as exc:
    print("IndexUnavailable:", exc.message)
else:
    print("opened")
"""


def test_a_second_process_gets_a_plain_in_use_error(index, backend, tmp_path):
    # The folder lock is per process (Edge's WAL lock, local mode's portalocker file).
    result = subprocess.run(
        [sys.executable, "-c", _OPEN_FROM_ANOTHER_PROCESS, backend, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.startswith("IndexUnavailable:"), result.stdout + result.stderr
    assert "in use by another process" in result.stdout
    assert "vitrine serve" in result.stdout


def test_concurrent_threads_read_and_write_safely(index):
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                sku = f"extra-{worker}-{i}"
                vector = np.full(8, worker + 1, dtype=np.float32) + i
                index.upsert(
                    [Point(id=point_id(sku), vectors={"text": vector}, payload={"sku": sku})]
                )
                assert index.search(text_query("mug"), limit=1)[0].payload["sku"] == "mug"
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert index.count() == len(PRODUCTS) + 40


def test_points_without_some_vectors_are_stored(empty_index):
    empty_index.upsert([to_point(BY_SKU["mug"]), Point(id=point_id("bare"), payload={"sku": "x"})])
    assert empty_index.count() == 2
    assert skus(empty_index.search(text_query("lamp"), limit=5)) == ["mug"]


def test_wrong_vector_size_on_upsert_is_a_value_error_and_writes_nothing(index):
    bad = Point(id=point_id("bad"), vectors={"text": np.ones(3, dtype=np.float32)})
    with pytest.raises(ValueError, match="expects 8"):
        index.upsert([to_point(BY_SKU["mug"]), bad])
    assert index.count() == len(PRODUCTS)
