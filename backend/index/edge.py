"""The embedded vector index: a Qdrant Edge shard in one folder, inside this process.

The default adapter of ``port.VectorIndex`` (``VITRINE_QDRANT_PATH``). Each collection
version is a folder holding the shard Edge writes, plus ``vitrine-collection.json``, the
record of the encoders and vector sizes that built it (Edge has no collection metadata of its
own); ``current.json`` names the version that serves (see ``edge_versions``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as q
from numpy.typing import NDArray

from backend.errors import (
    REPAIR_HINT,
    IndexConfigMismatch,
    IndexCorrupt,
    IndexMissing,
    IndexUnavailable,
    VitrineError,
)
from backend.index import compat, edge_versions
from backend.index.edge_versions import write_json_atomic
from backend.index.port import (
    BOOL_FIELDS,
    FLOAT_FIELDS,
    KEYWORD_FIELDS,
    RRF_K,
    CandidateQuery,
    CollectionInfo,
    CollectionSpec,
    DenseQuery,
    Filters,
    Hit,
    IndexDetails,
    Mmr,
    Point,
    Query,
    RecommendQuery,
    SparseQuery,
    StoredPoint,
    VectorIndex,
    check_diversify,
    check_fusion,
    fused_lists,
    payload_selection,
    rescored,
    stored_points,
)

RECORD_FILE = "vitrine-collection.json"
# Edge writes this file when it creates a shard; its presence means "a shard lives here".
_ENGINE_CONFIG_FILE = edge_versions.ENGINE_CONFIG_FILE
NO_FILTERS = Filters()
_PAYLOAD_SCHEMA = {
    **{name: q.PayloadSchemaType.Keyword for name in KEYWORD_FIELDS},
    **{name: q.PayloadSchemaType.Float for name in FLOAT_FIELDS},
    **{name: q.PayloadSchemaType.Bool for name in BOOL_FIELDS},
}
log = logging.getLogger(__name__)


class EdgeIndex:
    """``VectorIndex`` over a Qdrant Edge shard folder, opened (and locked) on construction.

    Optimize policy: Edge has no background optimizer, so until ``optimize()`` runs, search
    is brute force (fine for a few thousand products, 5.7 ms at 100k × 384-d). Whoever bulk
    loads calls ``optimize()`` once afterwards, off the request path; it blocks and holds the
    GIL, so the whole process pauses while it runs (50–110 s at 100k on 2 cores).

    Locking: the folder is held by one process at a time (Edge locks its WAL); a second
    opener gets ``IndexUnavailable``. Within the process every shard call goes through one
    lock: Edge calls hold the GIL anyway (threads gain nothing), and the lock keeps
    ``close()`` from racing a query.

    Versions: ``path`` is the index root; the shard served is the version ``current.json``
    names. At most every ``follow_interval`` seconds a call looks at that file (one stat),
    and when another process (``vitrine reindex``) has made a new version current, the shard
    is swapped under the lock: calls in flight finish on the old one, which is then closed
    and deleted. A version built for other encoders than this process was opened for
    (``ensure_collection``) is not followed: it serves from a restart with those settings.
    ``open_current=False`` opens the root without taking the current version's folder (for
    a rebuild while a server holds it); the current version is then opened on first use.
    ``version`` pins the index to one version folder (a rebuild's own writes).
    """

    def __init__(
        self,
        path: Path,
        *,
        hnsw_ef: int = 128,
        batch_size: int = 1024,
        open_current: bool = True,
        version: str | None = None,
        follow_interval: float = 0.5,
    ) -> None:
        self.path = Path(path)
        self.hnsw_ef = hnsw_ef
        self.batch_size = batch_size
        self.follow_interval = follow_interval
        self._lock = threading.RLock()
        self._closed = False
        self._shard: q.EdgeShard | None = None
        self._spec: CollectionSpec | None = None
        self._wanted: CollectionSpec | None = None  # what this process serves, once ensured
        self._pinned = version is not None
        self._version = version
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._refused: str | None = None
        self._lost: str | None = None  # why the served folder is gone (see ``_lose``)
        self._switching = threading.Lock()  # one thread at a time opens a new version
        self._attached = open_current
        if self._pinned:
            if (self._folder / _ENGINE_CONFIG_FILE).exists():
                self._shard = self._load()
                self._spec = self._read_record()
            return
        edge_versions.migrate_legacy(self.path)
        if open_current:
            self._attach()

    def __repr__(self) -> str:
        return f"EdgeIndex({str(self.path)!r}, version={self._version!r})"

    @property
    def version(self) -> str | None:
        """The version folder served (``v2``), or None before the first collection."""
        return self._version

    @property
    def _folder(self) -> Path:
        """The folder of the shard served (the root only before any version exists)."""
        return self.path / self._version if self._version else self.path

    # -- collection -------------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the shard for ``spec``, or check that the existing one was built for it."""
        with self._lock:
            self._check_open()
            self._ensure_attached()
            if self._shard is None:
                if not self._pinned:
                    self._version = edge_versions.next_version(self.path)
                # The record goes first: a crash before the shard exists leaves a record that
                # the next call simply rewrites, never a shard nobody can vouch for.
                self._write_record(spec)
                with self._engine_errors("create the collection"):
                    self._shard = q.EdgeShard.create(str(self._folder), _edge_config(spec))
                self._spec = spec
                if not self._pinned:
                    # The pointer last: until it names the version, no one else serves it.
                    assert self._version is not None
                    edge_versions.write_pointer(self.path, self._version)
                    self._stamp = edge_versions.pointer_stamp(self.path)
            else:
                if self._spec is None:
                    raise IndexConfigMismatch(compat.missing_record_message(self._where, spec))
                compat.check_compatible(self._spec, spec, where=self._where)
            self._wanted = spec
            with self._engine("create payload indexes") as shard:
                existing = shard.info().payload_schema
                for name, schema in _PAYLOAD_SCHEMA.items():
                    if name not in existing:
                        shard.update(q.UpdateOperation.create_field_index(name, schema))
                shard.flush()

    def drop(self) -> None:
        """Close and delete the shard and its record (every version, unless pinned to one)."""
        import shutil

        with self._lock:
            self._check_open()
            shard, self._shard, self._spec = self._shard, None, None
            if shard is not None:
                shard.close()
            if self._pinned:
                edge_versions.remove(self._folder)
                return
            self._version = None
            for child in self.path.iterdir() if self.path.exists() else ():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()

    def info(self) -> CollectionInfo | None:
        """The recorded spec and exact point count, or None before ``ensure_collection``."""
        self._follow()
        with self._lock:
            self._check_open()
            self._ensure_attached()
            if self._shard is None:
                return None
            spec = self._spec or CollectionSpec(dense={}, encoders={}, sparse=())
            return CollectionInfo(spec=spec, points=self.count(), version=self._version)

    def details(self) -> IndexDetails | None:
        """The shard's payload indexes and segments, or None before ``ensure_collection``."""
        with self._lock:
            self._check_open()
            if self._shard is None:
                return None
        with self._engine("describe the collection") as shard:
            shard_info = shard.info()
        return IndexDetails(
            engine="qdrant-edge",
            location=str(self.path),
            distance="cosine",
            payload_indexes={
                name: _schema_name(index.data_type)
                for name, index in sorted(shard_info.payload_schema.items())
            },
            segments=int(shard_info.segments_count),
            indexed_vectors=int(shard_info.indexed_vectors_count),
            versions=tuple(edge_versions.versions(self.path)),
            aliases={"current": current} if (current := self._version) else {},
        )

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        """Insert or replace points by id, in batches; flushed, so durable on return."""
        converted = [self._edge_point(p) for p in points]  # a bad vector is a ValueError
        with self._engine("write points") as shard:
            for start in range(0, len(converted), self.batch_size):
                batch = converted[start : start + self.batch_size]
                shard.update(q.UpdateOperation.upsert_points(batch))
            shard.flush()

    def delete(self, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""
        if not ids:
            return
        with self._engine("delete points") as shard:
            shard.update(q.UpdateOperation.delete_points(list(ids)))
            shard.flush()

    # -- reads ------------------------------------------------------------------------------

    def search(
        self,
        query: CandidateQuery,
        *,
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
        payload: bool = True,
    ) -> list[Hit]:
        """Best matches for one signal, filtered inside the engine."""
        flt = edge_filter(filters)
        request = q.QueryRequest(
            limit=limit,
            offset=offset,
            query=self._signal(query),
            prefetches=self._within(query, flt, limit + offset),
            filter=flt,
            params=self._signal_params(query, limit + offset),
            with_payload=payload,
        )
        with self._engine("search") as shard:
            return [_hit(p) for p in shard.query(request)]

    def hybrid(
        self,
        queries: Sequence[CandidateQuery],
        *,
        fusion: str = "rrf",
        weights: Sequence[float] | None = None,
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
        candidates: int = 100,
    ) -> list[Hit]:
        """One engine query: a filtered prefetch per signal, fused by RRF (k=60) or DBSF."""
        check_fusion(queries, fusion, weights)
        queries, weights = fused_lists(queries, fusion, weights)
        flt = edge_filter(filters)
        # Fewer candidates than the page end would silently shorten deep pages.
        prefetches = self._prefetches(queries, flt, max(candidates, limit + offset))
        request = q.QueryRequest(
            limit=limit,
            offset=offset,
            query=_fusion(fusion, weights),
            prefetches=prefetches,
            filter=flt,
            with_payload=True,
        )
        with self._engine("search") as shard:
            return [_hit(p) for p in shard.query(request)]

    def retrieve(self, ids: Sequence[str], *, vectors: Sequence[str] = ()) -> list[StoredPoint]:
        """Points by id in the order asked (missing ids left out), with the named vectors."""
        if not ids:
            return []
        with_vector: list[str] | bool = list(vectors) if vectors else False
        with self._engine("read points") as shard:
            records = shard.retrieve(list(ids), True, with_vector)
        found = {str(r.id): r for r in records}
        return [
            StoredPoint(
                id=pid,
                payload=dict(found[pid].payload or {}),
                vectors=_named_arrays(found[pid].vector, vectors),
                sparse=compat.named_sparse(found[pid].vector, vectors),
            )
            for pid in dict.fromkeys(ids)
            if pid in found
        ]

    def count_vectors(self, names: Sequence[str]) -> dict[str, int]:
        """Points holding each named vector."""
        counts = {}
        with self._engine("count vectors") as shard:
            for name in names:
                has = q.Filter(must=[q.HasVectorCondition(name)])
                counts[name] = int(shard.count(q.CountRequest(exact=True, filter=has)))
        return counts

    def count(self, filters: Filters = NO_FILTERS) -> int:
        """Exact number of points matching the filters."""
        with self._engine("count points") as shard:
            return shard.count(q.CountRequest(exact=True, filter=edge_filter(filters)))

    def facet(
        self, key: str, *, filters: Filters = NO_FILTERS, limit: int = 10
    ) -> list[tuple[str, int]]:
        """Counts per value of the keyword field ``key`` among the matching points."""
        # Qdrant's fast facet (exact=False) counts exactly within each segment and adds the
        # segments up; exact=True runs one count query per value (200 brands at 100k points:
        # 50-100 ms instead of 1 ms) for the same numbers on a shard whose points are settled.
        request = q.FacetRequest(key, limit=limit, exact=False, filter=edge_filter(filters))
        with self._engine("count values") as shard:
            hits = shard.facet(request).hits
        return sorted(((str(h.value), int(h.count)) for h in hits), key=lambda h: (-h[1], h[0]))

    def histogram(
        self,
        key: str,
        edges: Sequence[float],
        *,
        filters: Filters = NO_FILTERS,
        exact_up_to: int | None = None,
    ) -> list[int]:
        """Counts per bucket ``[edges[i], edges[i + 1])`` of the number ``key`` (exact up to
        ``exact_up_to`` matching points, estimated above)."""
        base = edge_filter(filters)
        with self._engine("count values") as shard:
            exact = exact_up_to is None or (
                shard.count(q.CountRequest(exact=False, filter=base)) <= exact_up_to
            )
            counts = []
            for low, high in zip(edges, edges[1:], strict=False):
                bucket = q.RangeFloat(gte=low, lt=None if math.isinf(high) else high)
                must: list[Any] = [q.FieldCondition(key=key, range=bucket)]
                if base is not None:
                    must.append(base)
                counts.append(shard.count(q.CountRequest(exact=exact, filter=q.Filter(must=must))))
        return counts

    def recommend(
        self,
        queries: Sequence[RecommendQuery],
        *,
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
        candidates: int = 100,
    ) -> list[Hit]:
        """Best-score recommendation; several queries are prefetched and fused by RRF."""
        if not queries:
            raise ValueError("recommend needs at least one query")
        if len(queries) == 1:
            return self.search(queries[0], filters=filters, limit=limit, offset=offset)
        return self.hybrid(
            queries, filters=filters, limit=limit, offset=offset, candidates=candidates
        )

    def diversify(
        self,
        signals: Sequence[CandidateQuery],
        mmr: Mmr,
        *,
        fusion: str = "rrf",
        weights: Sequence[float] | None = None,
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
        candidates: int = 100,
    ) -> list[Hit]:
        """The signals' best candidates (fused like ``hybrid`` when several) re-ranked by MMR."""
        check_diversify(signals, mmr, fusion, weights)
        signals, weights = fused_lists(signals, fusion, weights)
        flt = edge_filter(filters)
        pool = max(candidates, limit + offset)
        prefetches = self._prefetches(signals, flt, pool)
        if len(prefetches) > 1:
            fused = _fusion(fusion, weights)
            prefetches = [q.Prefetch(limit=pool, query=fused, prefetches=prefetches, filter=flt)]
        vector = compat.dense_values(mmr.vector, mmr.using, self._spec)
        request = q.QueryRequest(
            limit=limit,
            offset=offset,
            query=q.Mmr(vector, 1.0 - mmr.diversity, pool, mmr.using),
            prefetches=prefetches,
            filter=flt,
            with_payload=True,
        )
        with self._engine("search") as shard:
            return [_hit(p) for p in shard.query(request)]

    # -- lifecycle --------------------------------------------------------------------------

    def optimize(self) -> None:
        """Build HNSW and payload structures after a bulk load (blocking; see class doc)."""
        with self._engine("optimize") as shard:
            shard.optimize()
            shard.flush()

    def ping(self) -> None:
        """Raise ``IndexUnavailable`` if the index is closed or the shard cannot answer."""
        self._follow()
        with self._lock:
            self._check_open()
            self._ensure_attached()
            if self._shard is not None:
                with self._engine_errors("answer"):
                    self._shard.info()

    def close(self) -> None:
        """Flush and release the shard and its folder lock; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            shard, self._shard = self._shard, None
            if shard is not None:
                try:
                    with self._engine_errors("flush before closing"):
                        shard.flush()
                finally:
                    shard.close()

    # -- helpers ----------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"at {self.path}"

    def _check_open(self) -> None:
        if self._closed:
            raise IndexUnavailable(f"the vector index {self._where} is closed")
        if self._lost is not None:
            raise IndexMissing(f"{self._lost}: {REPAIR_HINT}")

    @contextmanager
    def _engine(self, action: str) -> Iterator[q.EdgeShard]:
        """Hold the lock around calls on the open shard; engine errors become IndexUnavailable."""
        self._follow()
        with self._lock:
            self._check_open()
            self._ensure_attached()
            if self._shard is None:
                raise IndexUnavailable(
                    f"the vector index {self._where} has no collection yet: "
                    "load a catalog first (`vitrine load`)"
                )
            with self._engine_errors(action):
                yield self._shard

    @contextmanager
    def _engine_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (VitrineError, ValueError, TypeError):
            raise
        except Exception as exc:  # Edge raises bare Exception for every engine error
            raise IndexUnavailable(
                f"the vector index {self._where} could not {action}: {exc}"
            ) from exc

    def _load(self, folder: Path | None = None) -> q.EdgeShard:
        folder = folder or self._folder
        try:
            return q.EdgeShard.load(str(folder))
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise IndexUnavailable(compat.folder_in_use_message(folder)) from exc
            if not folder.exists():
                raise IndexMissing(
                    f"the vector index folder {folder} is gone: {REPAIR_HINT}"
                ) from exc
            raise IndexCorrupt(
                f"cannot open the vector index at {folder}: {exc}; {REPAIR_HINT}"
            ) from exc

    def _read_record(self, folder: Path | None = None) -> CollectionSpec | None:
        try:
            raw = ((folder or self._folder) / RECORD_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return compat.spec_from_record(json.loads(raw))

    def _write_record(self, spec: CollectionSpec) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._folder / RECORD_FILE, compat.spec_record(spec))

    # -- versions -----------------------------------------------------------------------------

    def _attach(self) -> None:
        """Open the current version's shard (taking its folder) and tidy superseded ones."""
        stamp = edge_versions.pointer_stamp(self.path)
        current = edge_versions.read_pointer(self.path)
        if current is not None and (self.path / current / _ENGINE_CONFIG_FILE).exists():
            self._shard = self._load(self.path / current)
            self._version = current
            self._spec = self._read_record()
            self._tidy(current)
        self._attached = True
        self._stamp = stamp
        self._checked = time.monotonic()

    def _ensure_attached(self) -> None:
        if not self._pinned and not self._attached:
            self._attach()

    def _follow(self, *, force: bool = False) -> None:
        """Swap to the version ``current.json`` names if another process changed it.

        Called before taking the lock: the new shard is opened while other threads go on
        querying the old one, and swapped in under the lock, so calls in flight finish
        first. ``force``: look now, and follow even a version built for other encoders.
        """
        if self._pinned or not self._attached or self._closed:
            return
        now = time.monotonic()
        if not force and now - self._checked < self.follow_interval:
            return
        if not self._switching.acquire(blocking=force):
            return  # another thread is switching; this call uses the current shard
        try:
            self._checked = now
            self._switch_if_moved(force=force)
        finally:
            self._switching.release()

    def _switch_if_moved(self, *, force: bool) -> None:
        stamp = edge_versions.pointer_stamp(self.path)
        if stamp == self._stamp:
            return
        if stamp is None and self._version is not None and not self._folder.exists():
            self._lose()
            return
        try:
            current = edge_versions.read_pointer(self.path)
        except IndexCorrupt as exc:  # the open shard is still good: keep serving it
            log.warning("%s; this process keeps serving version %s", exc.message, self._version)
            self._stamp = stamp
            return
        if current is None or current == self._version or (current == self._refused and not force):
            self._stamp = stamp
            return
        folder = self.path / current
        spec = self._read_record(folder)
        if spec is None:
            return  # not written yet: look again next time
        if force:
            self._wanted = spec
        elif self._wanted is not None:
            try:
                compat.check_compatible(spec, self._wanted, where=f"at {folder}")
            except IndexConfigMismatch:
                log.warning(
                    "index version %s at %s is current but was built with %s; this process "
                    "serves %s, so it keeps serving version %s until it is restarted with "
                    "settings for the new version",
                    current,
                    self.path,
                    compat.describe(spec),
                    compat.describe(self._wanted),
                    self._version,
                )
                self._refused = current
                return
        try:
            shard = self._load(folder)
        except IndexUnavailable as exc:
            log.warning("cannot switch to index version %s yet: %s", current, exc.message)
            return
        with self._lock:
            if self._closed:
                shard.close()
                return
            old, old_version = self._shard, self._version
            self._shard, self._spec, self._version, self._stamp = shard, spec, current, stamp
            self._lost = None
            if old is not None:
                old.close()
        log.info("index at %s switched from version %s to %s", self.path, old_version, current)
        if old_version is not None:
            self._tidy(current)

    def _lose(self) -> None:
        """The served folder was deleted under this process: its open shard still answers,
        but from files nobody will find again, so every call fails until a new version (a
        repair) is made current, which ``_follow`` then opens."""
        with self._lock:
            log.error(
                "the vector index folder %s was removed while this process served it", self._folder
            )
            self._lost = f"the vector index folder {self._folder} was removed while serving"
            shard, self._shard, self._version, self._stamp = self._shard, None, None, None
            if shard is not None:
                shard.close()

    def _tidy(self, current: str) -> None:
        """Remove versions older than ``current`` that no one holds; never fails a call."""
        try:
            edge_versions.remove_superseded(self.path, keep=current)
        except OSError as exc:
            log.warning("could not remove old index versions under %s: %s", self.path, exc)

    def page(
        self,
        *,
        filters: Filters = NO_FILTERS,
        limit: int = 20,
        after: str | None = None,
        payload: Sequence[str] | None = None,
    ) -> tuple[list[StoredPoint], str | None]:
        """Up to ``limit`` points matching ``filters`` in id order from ``after``, and the id
        the next page starts at (None after the last); ``payload``: fields (None: all)."""
        request = q.ScrollRequest(
            offset=after,
            limit=limit,
            with_payload=payload_selection(payload),
            with_vector=False,
            filter=edge_filter(filters),
        )
        with self._engine("read points") as shard:
            records, offset = shard.scroll(request)
        return stored_points(records), None if offset is None else str(offset)

    def new_version(self, spec: CollectionSpec) -> EdgeIndex:
        """A new version folder with an empty shard for ``spec``, pinned (see class doc)."""
        if self._pinned:
            raise ValueError("a pinned version cannot start another version")
        with self._lock:
            self._check_open()
            current = edge_versions.read_pointer(self.path)
            edge_versions.remove_abandoned(self.path, current=current)
            self.path.mkdir(parents=True, exist_ok=True)
            version = EdgeIndex(
                self.path,
                hnsw_ef=self.hnsw_ef,
                batch_size=self.batch_size,
                version=edge_versions.next_version(self.path),
            )
        version.ensure_collection(spec)
        return version

    def switch_to(self, version: VectorIndex, *, release_timeout: float = 30.0) -> bool:
        """Close ``version``, make it current, and remove the old version once released.

        In this process the swap is immediate; a serving process elsewhere follows within
        ``follow_interval`` of its next call, and the old folder is removed when it lets go
        (after ``release_timeout`` seconds this returns False and that process removes it).
        """
        if not isinstance(version, EdgeIndex) or not version._pinned or version.path != self.path:
            raise ValueError(f"{version!r} is not a new version of {self!r}")
        assert version.version is not None
        previous = edge_versions.read_pointer(self.path)
        version.close()  # releases its folder, so that a serving process can open it
        edge_versions.write_pointer(self.path, version.version)
        if self._attached and self._shard is not None:  # serving here: swap now
            self._follow(force=True)
        if previous is None:
            return True
        deadline = time.monotonic() + release_timeout
        while edge_versions.is_held(self.path / previous):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        edge_versions.remove(self.path / previous)
        edge_versions.remove_superseded(self.path, keep=version.version)
        return True

    def _edge_point(self, point: Point) -> q.Point:
        vector: dict[str, Any] = {
            name: compat.vector_values(v, name, self._spec) for name, v in point.vectors.items()
        }
        for name, sparse in point.sparse.items():
            if len(sparse.indices):
                vector[name] = q.SparseVector(list(sparse.indices), list(sparse.values))
        return q.Point(point.id, vector, dict(point.payload))

    def _query(self, query: Query) -> q.Query:
        if isinstance(query, DenseQuery):
            return q.Query.Nearest(
                compat.vector_values(query.vector, query.using, self._spec), using=query.using
            )
        if isinstance(query, SparseQuery):
            sparse = q.SparseVector(list(query.vector.indices), list(query.vector.values))
            return q.Query.Nearest(sparse, using=query.using)
        raise TypeError(f"not a query: {query!r}")

    def _signal(self, signal: CandidateQuery) -> q.Query:
        if isinstance(signal, RecommendQuery):
            recommend = q.RecommendQuery(
                positives=[
                    compat.dense_values(v, signal.using, self._spec) for v in signal.positive
                ],
                negatives=[
                    compat.dense_values(v, signal.using, self._spec) for v in signal.negative
                ],
            )
            return q.Query.RecommendBestScore(recommend, using=signal.using)
        return self._query(signal)

    def _prefetches(
        self, signals: Sequence[CandidateQuery], flt: q.Filter | None, depth: int
    ) -> list[q.Prefetch]:
        return [
            q.Prefetch(
                limit=depth,
                query=self._signal(signal),
                prefetches=self._within(signal, flt, depth),
                filter=flt,
                params=self._signal_params(signal, depth),
            )
            for signal in signals
        ]

    def _within(
        self, signal: CandidateQuery, flt: q.Filter | None, depth: int
    ) -> list[q.Prefetch] | None:
        """The candidates a query re-scores (``port.rescored``), or None."""
        if (within := rescored(signal, depth)) is None:
            return None
        inner, limit = within
        return [
            q.Prefetch(
                limit=limit,
                query=self._query(inner),
                filter=flt,
                params=self._signal_params(inner, limit),
            )
        ]

    def _signal_params(self, signal: CandidateQuery, depth: int) -> q.SearchParams | None:
        if isinstance(signal, SparseQuery):
            return None
        return q.SearchParams(hnsw_ef=max(self.hnsw_ef, depth))


def _fusion(fusion: str, weights: Sequence[float] | None) -> Any:
    if fusion == "dbsf":
        return q.Fusion.Dbsf()
    if weights is None:
        return q.Fusion.Rrf(k=RRF_K)
    return q.Fusion.Rrf(k=RRF_K, weights=[float(w) for w in weights])


def edge_filter(filters: Filters) -> q.Filter | None:
    """The shopper filters as one Edge payload filter (None when nothing narrows)."""
    must: list[Any] = []
    if filters.categories:
        must.append(q.FieldCondition(key="category", match=q.MatchAny(list(filters.categories))))
    if filters.brands:
        must.append(q.FieldCondition(key="brand", match=q.MatchAny(list(filters.brands))))
    if filters.price_min is not None or filters.price_max is not None:
        # A range never matches a point without a price, which is what shoppers expect.
        price = q.RangeFloat(gte=filters.price_min, lte=filters.price_max)
        must.append(q.FieldCondition(key="price", range=price))
    if filters.in_stock is not None:
        must.append(q.FieldCondition(key="in_stock", match=_match_bool(filters.in_stock)))
    must_not: list[Any] = []
    if filters.exclude_ids:
        must_not.append(q.HasIdCondition(set(filters.exclude_ids)))
    if not must and not must_not:
        return None
    return q.Filter(must=must or None, must_not=must_not or None)


def _match_bool(flag: bool) -> q.MatchValue:
    # Edge 0.9's binding reads a Python bool as the integer 1/0 (bool is an int), which then
    # matches no boolean payload at all; numpy's bool is not an int and arrives as a bool.
    value: Any = np.bool_(flag)
    return q.MatchValue(value)


_MAX_SIM = q.MultiVectorConfig(q.MultiVectorComparator.MaxSim)
# m=0: no HNSW graph for the vector (the other two values are Qdrant's defaults).
_NO_GRAPH = q.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000)


def _edge_config(spec: CollectionSpec) -> q.EdgeConfig:
    return q.EdgeConfig(
        vectors={
            name: q.EdgeVectorParams(
                size=int(size),
                distance=q.Distance.Cosine,
                on_disk=True if name in spec.on_disk else None,
                multivector_config=_MAX_SIM if name in spec.multi else None,
                datatype=q.VectorStorageDatatype.Float16 if name in spec.multi else None,
                hnsw_config=_NO_GRAPH if name in spec.multi else None,
            )
            for name, size in spec.dense.items()
        },
        sparse_vectors={
            name: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf) for name in spec.sparse
        },
    )


def _schema_name(data_type: Any) -> str:
    # Edge prints its enum as "PayloadSchemaType.Keyword"; the admin wants "keyword".
    return str(data_type).rsplit(".", 1)[-1].lower()


def _hit(point: q.ScoredPoint) -> Hit:
    return Hit(id=str(point.id), score=float(point.score), payload=dict(point.payload or {}))


def _named_arrays(stored: Any, names: Sequence[str]) -> dict[str, NDArray[np.float32]]:
    if not names or not isinstance(stored, Mapping):
        return {}
    return {
        name: np.asarray(stored[name], dtype=np.float32)
        for name in names
        if isinstance(stored.get(name), list)
    }
