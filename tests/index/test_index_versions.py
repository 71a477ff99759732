"""Scrolling every point, and collection versions: build beside the serving one, then switch.

Run on both adapters (Edge: version folders and ``current.json``; qdrant-client local mode:
versioned collections behind an alias), plus what only Edge has: a legacy folder migrated on
open, and a serving index in one object following a switch made through another.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import numpy as np
import pytest
import qdrant_edge as q
from qdrant_client import QdrantClient, models

from backend.errors import IndexUnavailable
from backend.index.edge import RECORD_FILE, EdgeIndex
from backend.index.edge_versions import POINTER_FILE, read_pointer, versions
from backend.index.port import CollectionSpec, DenseQuery, Point, point_id, scroll
from backend.index.qdrant import QdrantIndex
from tests.index.conftest import (
    BY_SKU,
    COLLECTION,
    PRODUCTS,
    SPEC,
    TEXT,
    open_backend,
    to_point,
)

WITH_FUSED = CollectionSpec(
    dense={**SPEC.dense, "fused": 4},
    encoders={**SPEC.encoders, "fused": "fusion-test"},
    sparse=SPEC.sparse,
)


def with_fused(point: Point) -> Point:
    return Point(
        id=point.id,
        vectors={**point.vectors, "fused": np.ones(4, np.float32)},
        sparse=point.sparse,
        payload={**point.payload, "content_hash": "v2"},
    )


def top_sku(index, sku: str = "mug") -> str:
    return index.search(DenseQuery(TEXT[sku], "text"), limit=1)[0].payload["sku"]


# -- scroll -----------------------------------------------------------------------------------


def test_scroll_lists_every_point_once_across_pages(index):
    listed = list(scroll(index, payload=("sku",), page_size=3))
    assert sorted(p.id for p in listed) == sorted(p.id for p in PRODUCTS)
    assert {p.payload["sku"] for p in listed} == set(BY_SKU)
    assert all(set(p.payload) == {"sku"} and p.vectors == {} for p in listed)


def test_scroll_without_payload_gives_ids_only(index):
    listed = list(scroll(index))
    assert len(listed) == len(PRODUCTS) and all(p.payload == {} for p in listed)


def test_scroll_of_an_empty_collection_is_empty(empty_index):
    assert list(scroll(empty_index, payload=("sku",))) == []


def test_both_adapters_scroll_the_same_points(tmp_path):
    answers = []
    for kind in ("edge", "qdrant_local"):
        index = open_backend(kind, tmp_path)
        try:
            index.ensure_collection(SPEC)
            index.upsert([to_point(p) for p in PRODUCTS])
            answers.append({p.id: dict(p.payload) for p in scroll(index, payload=("sku", "price"))})
        finally:
            index.close()
    assert answers[0] == answers[1]
    assert answers[0][point_id("lamp")] == {"sku": "lamp"}  # no price: the field is left out


# -- versions ---------------------------------------------------------------------------------


def test_a_new_version_is_filled_beside_the_serving_one_then_switched_to(index):
    before = index.info()
    assert before is not None and before.version is not None
    version = index.new_version(WITH_FUSED)
    version.upsert([with_fused(to_point(p)) for p in PRODUCTS[:3]])
    # Until the switch, search answers from the serving version, all ten products.
    assert index.count() == len(PRODUCTS)
    assert top_sku(index) == "mug"

    assert index.switch_to(version, release_timeout=5) is True
    after = index.info()
    assert after is not None
    assert after.points == 3 and after.spec.dense["fused"] == 4
    assert after.version != before.version
    assert top_sku(index, "shoe-run") == "shoe-run"
    found = index.search(DenseQuery(TEXT["mug"], "text"), limit=10)
    assert "mug" not in {h.payload["sku"] for h in found}


def test_switching_removes_the_old_version(index, backend, tmp_path):
    old = index.info().version
    version = index.new_version(SPEC)
    version.upsert([to_point(BY_SKU["mug"])])
    index.switch_to(version, release_timeout=5)
    new = index.info().version
    if backend == "edge":
        assert versions(tmp_path / "edge") == [new]
        assert read_pointer(tmp_path / "edge") == new
    else:
        client = index.client
        assert [c.name for c in client.get_collections().collections] == [new]
        assert client.get_aliases().aliases[0].collection_name == new
    assert old != new


def test_the_switch_survives_a_reopen(index, backend, tmp_path):
    version = index.new_version(WITH_FUSED)
    version.upsert([with_fused(to_point(BY_SKU["mug"]))])
    index.switch_to(version, release_timeout=5)
    index.close()
    reopened = open_backend(backend, tmp_path)
    try:
        reopened.ensure_collection(WITH_FUSED)  # the new record is what the folder holds
        assert reopened.count() == 1
    finally:
        reopened.close()


def test_a_search_loop_answers_every_query_through_a_rebuild_and_switch(index):
    answers: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_loop() -> None:
        while not stop.is_set():
            try:
                answers.append(top_sku(index))
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

    thread = threading.Thread(target=search_loop)
    thread.start()
    try:
        version = index.new_version(WITH_FUSED)
        for product in PRODUCTS:  # a slow rebuild: one point at a time
            version.upsert([with_fused(to_point(product))])
        index.switch_to(version, release_timeout=5)
        switched_at = len(answers)
        deadline = time.monotonic() + 30
        while len(answers) < switched_at + 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # a few searches on the new version
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(answers) >= switched_at + 5 and set(answers) == {"mug"}
    info = index.info()
    assert info is not None and info.points == len(PRODUCTS) and "fused" in info.spec.dense


def test_a_failed_build_is_dropped_and_the_serving_version_kept(index, backend, tmp_path):
    version = index.new_version(SPEC)
    version.upsert([to_point(BY_SKU["mug"])])
    version.drop()
    version.close()
    assert index.count() == len(PRODUCTS)
    if backend == "edge":
        assert versions(tmp_path / "edge") == [index.info().version]


# -- Edge only --------------------------------------------------------------------------------


def test_edge_migrates_a_folder_from_before_versions(tmp_path, caplog):
    root = tmp_path / "edge"
    config = q.EdgeConfig(
        vectors={"text": q.EdgeVectorParams(size=8, distance=q.Distance.Cosine)},
        sparse_vectors={"keywords": q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
    )
    shard = q.EdgeShard.create(str(root), config)
    shard.update(
        q.UpdateOperation.upsert_points(
            [q.Point(point_id("mug"), {"text": [float(x) for x in TEXT["mug"]]}, {"sku": "mug"})]
        )
    )
    shard.flush()
    shard.close()
    legacy = CollectionSpec(dense={"text": 8}, encoders={"text": "minilm"}, sparse=("keywords",))
    (root / RECORD_FILE).write_text(json.dumps(_record(legacy)))

    with caplog.at_level(logging.WARNING, logger="backend.index.edge_versions"):
        index = EdgeIndex(root)
    try:
        index.ensure_collection(legacy)
        assert index.count() == 1 and top_sku(index) == "mug"
        assert index.version == "v1"
    finally:
        index.close()
    assert sorted(p.name for p in root.iterdir()) == [POINTER_FILE, "v1"]
    assert "versioned layout" in caplog.text


def test_edge_serving_index_follows_a_switch_made_through_another_object(tmp_path):
    root = tmp_path / "edge"
    serving = EdgeIndex(root, follow_interval=0.0)
    serving.ensure_collection(SPEC)
    serving.upsert([to_point(p) for p in PRODUCTS])
    builder = EdgeIndex(root, open_current=False)  # as `vitrine reindex` opens it
    try:
        version = builder.new_version(SPEC)
        version.upsert([to_point(BY_SKU["mug"])])

        stop = threading.Event()

        def requests() -> None:  # the server answering requests meanwhile
            while not stop.is_set():
                serving.count()
                time.sleep(0.05)

        thread = threading.Thread(target=requests)
        thread.start()
        try:
            assert builder.switch_to(version, release_timeout=30) is True
        finally:
            stop.set()
            thread.join()
        assert serving.count() == 1 and serving.version == "v2"
        assert versions(root) == ["v2"]
    finally:
        builder.close()
        serving.close()


def test_edge_keeps_serving_when_the_new_version_needs_other_encoders(tmp_path, caplog):
    root = tmp_path / "edge"
    serving = EdgeIndex(root, follow_interval=0.0)
    serving.ensure_collection(SPEC)  # this process serves SPEC's encoders
    serving.upsert([to_point(p) for p in PRODUCTS])
    builder = EdgeIndex(root, open_current=False)
    try:
        other = CollectionSpec(
            dense=SPEC.dense, encoders={**SPEC.encoders, "text": "e5-small"}, sparse=SPEC.sparse
        )
        version = builder.new_version(other)
        with caplog.at_level(logging.WARNING, logger="backend.index.edge"):
            assert builder.switch_to(version, release_timeout=0.5) is False
            assert serving.count() == len(PRODUCTS) and top_sku(serving) == "mug"
        assert "keeps serving" in caplog.text
        assert read_pointer(root) == "v2" and versions(root) == ["v1", "v2"]
    finally:
        builder.close()
        serving.close()
    restarted = EdgeIndex(root)  # a restart with the new settings serves v2, drops v1
    try:
        restarted.ensure_collection(other)
        assert restarted.version == "v2" and versions(root) == ["v2"]
    finally:
        restarted.close()


# -- qdrant-client only -----------------------------------------------------------------------


def test_qdrant_queries_an_alias_of_a_versioned_collection(tmp_path):
    index = QdrantIndex.local_mode(":memory:", COLLECTION)
    try:
        index.ensure_collection(SPEC)
        names = [c.name for c in index.client.get_collections().collections]
        assert names == [f"{COLLECTION}_v1"]
        assert index.info().version == f"{COLLECTION}_v1"
    finally:
        index.close()


def test_qdrant_replaces_a_collection_from_before_versions_by_an_alias(tmp_path):
    client = QdrantClient(location=":memory:")
    index = QdrantIndex(client, COLLECTION)
    # A collection made by an earlier Vitrine: the real collection has the app's name.
    client.create_collection(
        COLLECTION,
        vectors_config={
            name: models.VectorParams(size=size, distance=models.Distance.COSINE)
            for name, size in SPEC.dense.items()
        },
        sparse_vectors_config={"keywords": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        metadata={"vitrine": _record(SPEC)},
    )
    try:
        index.ensure_collection(SPEC)
        index.upsert([to_point(p) for p in PRODUCTS])
        assert index.info().version == COLLECTION
        version = index.new_version(SPEC)
        version.upsert([to_point(BY_SKU["mug"])])
        assert index.switch_to(version) is True
        assert [c.name for c in client.get_collections().collections] == [f"{COLLECTION}_v1"]
        assert index.count() == 1 and top_sku(index) == "mug"
    finally:
        index.close()


def _record(spec: CollectionSpec) -> dict:
    from backend.index.compat import spec_record

    return spec_record(spec)


def test_edge_clears_a_crashed_build_and_refuses_a_second_concurrent_one(tmp_path):
    root = tmp_path / "edge"
    serving = EdgeIndex(root)
    serving.ensure_collection(SPEC)
    serving.upsert([to_point(p) for p in PRODUCTS])
    try:
        crashed = serving.new_version(SPEC)  # a `vitrine reindex` killed mid-build
        crashed.upsert([to_point(BY_SKU["mug"])])
        crashed.close()
        running = serving.new_version(SPEC)  # the crashed build is cleared, its name reused
        assert versions(root) == ["v1", "v2"] and running.count() == 0
        with pytest.raises(IndexUnavailable, match="another rebuild"):
            serving.new_version(SPEC)  # v2 is open now: its build is running
        running.drop()
        running.close()
        assert versions(root) == ["v1"] and serving.count() == len(PRODUCTS)
    finally:
        serving.close()
