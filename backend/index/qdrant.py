"""The vector index on qdrant-client: a Qdrant server or cluster, or local mode in tests.

The second adapter of ``port.VectorIndex`` (``VITRINE_QDRANT_URL``, or
``VITRINE_INDEX_BACKEND=qdrant`` for a local-mode folder). The encoders and vector sizes that
built the collection travel in its Qdrant collection metadata (server 1.16+; local mode keeps
it in its ``meta.json``). The name the app queries (``VITRINE_COLLECTION``) is an alias of a
versioned collection (``products_v1``, ``products_v2``, …), so that a rebuild fills a new
version and switches the alias in one atomic step.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qdrant_client import QdrantClient, models

from backend.errors import IndexConfigMismatch, IndexUnavailable, VitrineError
from backend.index import compat
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

METADATA_KEY = "vitrine"
NO_FILTERS = Filters()
_PAYLOAD_SCHEMA = {
    **{name: models.PayloadSchemaType.KEYWORD for name in KEYWORD_FIELDS},
    **{name: models.PayloadSchemaType.FLOAT for name in FLOAT_FIELDS},
    **{name: models.PayloadSchemaType.BOOL for name in BOOL_FIELDS},
}
log = logging.getLogger(__name__)


class QdrantIndex:
    """``VectorIndex`` over one collection reached through a ``QdrantClient`` (which it owns).

    Local mode (``QdrantClient(path=...)`` or ``":memory:"``) is not thread-safe, so there
    every call holds one lock; it is also brute force, ignores payload indexes and search
    params (and warns about them), so the adapter sends neither there. A server is
    thread-safe and optimizes in the background: no lock, and ``optimize()`` does nothing.
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        *,
        hnsw_ef: int = 128,
        batch_size: int = 256,
        where: str | None = None,
    ) -> None:
        self.client = client
        self.collection = collection
        self.hnsw_ef = hnsw_ef
        self.batch_size = batch_size
        options = client.init_options
        self.local = options.get("location") == ":memory:" or options.get("path") is not None
        self._where = where or f"collection {collection!r}"
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.local else contextlib.nullcontext()
        )
        self._closed = False
        self._spec: CollectionSpec | None = None
        # An alias over versioned collections; False for one version (``new_version``),
        # which shares this client (and its lock) without owning it.
        self._versioned = True
        self._owns_client = True

    @classmethod
    def server(
        cls, url: str, collection: str, *, api_key: str | None = None, timeout: int = 10
    ) -> QdrantIndex:
        """An index on a Qdrant server or cluster; nothing is contacted until first use."""
        # check_compatibility would call the server now and warn if it is down; the app
        # must start anyway and answer 503 until the server is back.
        client = QdrantClient(url=url, api_key=api_key, timeout=timeout, check_compatibility=False)
        return cls(client, collection, where=f"collection {collection!r} on {url}")

    @classmethod
    def local_mode(cls, path: Path | str, collection: str) -> QdrantIndex:
        """An index in qdrant-client's local mode: a folder (locked by this process) or
        ``":memory:"``."""
        location = str(path)
        # A failed open leaves qdrant-client's lock file unclosed; its ResourceWarning fires
        # when the exception is dropped, so it is silenced here, and only the reason's text
        # leaves this block (a chained exception would carry the open file out with it).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                return cls(_open_local(location), collection, where=f"at {location}")
            except Exception as exc:
                reason = str(exc)
        if "already accessed" in reason:
            raise IndexUnavailable(compat.folder_in_use_message(location))
        raise IndexUnavailable(f"cannot open the vector index at {location}: {reason}")

    def __repr__(self) -> str:
        return f"QdrantIndex({self._where})"

    # -- collection -------------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection for ``spec``, or check that the existing one was built for it."""
        with self._engine("create or check the collection"):
            if not self.client.collection_exists(self.collection):
                if self._versioned:
                    first = self._version_name(1)
                    self._create(first, spec)
                    self._point_alias_at(first)
                else:
                    self._create(self.collection, spec)
                existing_indexes: Mapping[str, Any] = {}
            else:
                stored, existing_indexes = self._stored_spec()
                if stored is None:
                    raise IndexConfigMismatch(compat.missing_record_message(self._where, spec))
                compat.check_compatible(stored, spec, where=self._where)
            if not self.local:  # local mode has no payload indexes (and warns if asked)
                for name, schema in _PAYLOAD_SCHEMA.items():
                    if name not in existing_indexes:
                        self.client.create_payload_index(self.collection, name, schema, wait=True)
            self._spec = spec

    def drop(self) -> None:
        """Delete the collection (and with it its record) if it exists."""
        with self._engine("delete the collection"):
            target = self._alias_target()
            if target is not None:
                self.client.update_collection_aliases(
                    change_aliases_operations=[_delete_alias(self.collection)]
                )
                self.client.delete_collection(target)
            elif self.client.collection_exists(self.collection):
                self.client.delete_collection(self.collection)
            self._spec = None

    def info(self) -> CollectionInfo | None:
        """The recorded spec and exact point count, or None when the collection is missing."""
        with self._engine("describe the collection"):
            if not self.client.collection_exists(self.collection):
                return None
            stored, _ = self._stored_spec()
            spec = stored or CollectionSpec(dense={}, encoders={}, sparse=())
            version = (self._alias_target() if self._versioned else None) or self.collection
            return CollectionInfo(spec=spec, points=self.count(), version=version)

    def details(self) -> IndexDetails | None:
        """Payload indexes and segments as Qdrant reports them, or None without a collection."""
        with self._engine("describe the collection"):
            if not self.client.collection_exists(self.collection):
                return None
            described = self.client.get_collection(self.collection)
            names = [c.name for c in self.client.get_collections().collections]
            target = self._alias_target() if self._versioned else None
        schema = described.payload_schema or {}
        versions = sorted(n for n in names if self._version_number(n) is not None)
        return IndexDetails(
            engine="qdrant-local" if self.local else "qdrant-server",
            location=self._where,
            distance="cosine",
            payload_indexes={
                name: str(getattr(index.data_type, "value", index.data_type)).lower()
                for name, index in sorted(schema.items())
            },
            segments=described.segments_count,
            indexed_vectors=described.indexed_vectors_count,
            versions=tuple(versions or [self.collection]),
            aliases={self.collection: target} if target else {},
        )

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        """Insert or replace points by id, in batches, waiting for each to be applied."""
        structs = [self._point(p) for p in points]  # a bad vector is a ValueError, not a 503
        with self._engine("write points"):
            for start in range(0, len(structs), self.batch_size):
                batch = structs[start : start + self.batch_size]
                self.client.upsert(self.collection, points=batch, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""
        if not ids:
            return
        with self._engine("delete points"):
            try:
                self.client.delete(
                    self.collection, points_selector=models.PointIdsList(points=list(ids))
                )
            except KeyError:  # local mode's word for an unknown id (a server ignores it)
                pass

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
        vector, using = self._signal(query)
        flt = qdrant_filter(filters)
        with self._engine("search"):
            response = self.client.query_points(
                self.collection,
                prefetch=self._within(query, flt, limit + offset),
                query=vector,
                using=using,
                query_filter=flt,
                search_params=self._signal_params(query, limit + offset),
                limit=limit,
                offset=offset,
                with_payload=payload,
            )
        return [_hit(p) for p in response.points]

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
        flt = qdrant_filter(filters)
        # Fewer candidates than the page end would silently shorten deep pages.
        prefetches = self._prefetches(queries, flt, max(candidates, limit + offset))
        with self._engine("search"):
            response = self.client.query_points(
                self.collection,
                prefetch=prefetches,
                query=_fusion(fusion, weights),
                query_filter=flt,
                limit=limit,
                offset=offset,
                with_payload=True,
            )
        return [_hit(p) for p in response.points]

    def retrieve(self, ids: Sequence[str], *, vectors: Sequence[str] = ()) -> list[StoredPoint]:
        """Points by id in the order asked (missing ids left out), with the named vectors."""
        if not ids:
            return []
        with_vectors: list[str] | bool = list(vectors) if vectors else False
        with self._engine("read points"):
            try:
                records = self.client.retrieve(
                    self.collection, list(ids), with_payload=True, with_vectors=with_vectors
                )
            except KeyError:  # local mode's word for a missing id: the server leaves it out
                records = []
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
        with self._engine("count vectors"):
            for name in names:
                has = models.Filter(must=[models.HasVectorCondition(has_vector=name)])
                found = self.client.count(self.collection, count_filter=has, exact=True)
                counts[name] = int(found.count)
        return counts

    def count(self, filters: Filters = NO_FILTERS) -> int:
        """Exact number of points matching the filters."""
        with self._engine("count points"):
            result = self.client.count(
                self.collection, count_filter=qdrant_filter(filters), exact=True
            )
        return int(result.count)

    def facet(
        self, key: str, *, filters: Filters = NO_FILTERS, limit: int = 10
    ) -> list[tuple[str, int]]:
        """Counts per value of the keyword field ``key`` among the matching points."""
        with self._engine("count values"):
            # Qdrant's fast facet, as in the Edge adapter (local mode always counts exactly).
            response = self.client.facet(
                self.collection,
                key,
                facet_filter=qdrant_filter(filters),
                limit=limit,
                exact=False,
            )
        hits = ((str(h.value), int(h.count)) for h in response.hits)
        return sorted(hits, key=lambda h: (-h[1], h[0]))

    def histogram(
        self,
        key: str,
        edges: Sequence[float],
        *,
        filters: Filters = NO_FILTERS,
        exact_up_to: int | None = None,
    ) -> list[int]:
        """Counts per bucket ``[edges[i], edges[i + 1])`` of the number ``key`` (exact up to
        ``exact_up_to`` matching points, estimated above; local mode always counts exactly)."""
        base = qdrant_filter(filters)
        counts = []
        with self._engine("count values"):
            exact = exact_up_to is None or (
                self.client.count(self.collection, count_filter=base, exact=False).count
                <= exact_up_to
            )
            for low, high in zip(edges, edges[1:], strict=False):
                bucket = models.Range(gte=low, lt=None if math.isinf(high) else high)
                must: list[models.Condition] = [models.FieldCondition(key=key, range=bucket)]
                if base is not None:
                    must.append(base)
                result = self.client.count(
                    self.collection, count_filter=models.Filter(must=must), exact=exact
                )
                counts.append(int(result.count))
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
        flt = qdrant_filter(filters)
        pool = max(candidates, limit + offset)
        prefetches = self._prefetches(signals, flt, pool)
        if len(prefetches) > 1:
            prefetches = [
                models.Prefetch(
                    prefetch=prefetches,
                    query=_fusion(fusion, weights),
                    filter=flt,
                    limit=pool,
                )
            ]
        query = models.NearestQuery(
            nearest=compat.dense_values(mmr.vector, mmr.using, self._spec),
            mmr=models.Mmr(diversity=mmr.diversity, candidates_limit=pool),
        )
        with self._engine("search"):
            response = self.client.query_points(
                self.collection,
                prefetch=prefetches,
                query=query,
                using=mmr.using,
                query_filter=flt,
                limit=limit,
                offset=offset,
                with_payload=True,
            )
        return [_hit(p) for p in response.points]

    # -- lifecycle --------------------------------------------------------------------------

    def optimize(self) -> None:
        """Nothing to do: a server optimizes in the background, local mode is brute force."""
        with self._lock:
            self._check_open()

    def ping(self) -> None:
        """Raise ``IndexUnavailable`` if the index is closed or the server does not answer."""
        with self._engine("answer"):
            self.client.get_collections()

    def close(self) -> None:
        """Release the client (and local mode's folder lock); safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._owns_client:
                self.client.close()

    # -- versions -----------------------------------------------------------------------------

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
        with self._engine("read points"):
            records, offset = self.client.scroll(
                self.collection,
                limit=limit,
                offset=after,
                scroll_filter=qdrant_filter(filters),
                with_payload=payload_selection(payload),
                with_vectors=False,
            )
        return stored_points(records), None if offset is None else str(offset)

    def new_version(self, spec: CollectionSpec) -> QdrantIndex:
        """A new collection ``<name>_v<n>`` for ``spec``; the alias keeps serving the old one."""
        if not self._versioned:
            raise ValueError("a collection version cannot start another version")
        with self._engine("create a collection version"):
            names = [c.name for c in self.client.get_collections().collections]
            numbers = [n for name in names if (n := self._version_number(name)) is not None]
            name = self._version_name(max(numbers, default=0) + 1)
            self._create(name, spec)
            version = QdrantIndex(
                self.client, name, hnsw_ef=self.hnsw_ef, batch_size=self.batch_size
            )
            version._lock = self._lock
            version._versioned = False
            version._owns_client = False
        version.ensure_collection(spec)  # payload indexes
        return version

    def switch_to(self, version: VectorIndex, *, release_timeout: float = 30.0) -> bool:
        """Point the alias at ``version`` in one atomic step, then delete the old collection.

        A collection from before versions carries the alias's name itself: it is deleted
        just before the alias is created (the one moment this name does not answer).
        """
        if (
            not isinstance(version, QdrantIndex)
            or version._versioned
            or version.client is not (self.client)
        ):
            raise ValueError(f"{version!r} is not a new version of {self!r}")
        with self._engine("switch collection versions"):
            previous = self._alias_target()
            operations: list[Any] = []
            if previous is not None:
                operations.append(_delete_alias(self.collection))
            elif self.client.collection_exists(self.collection):
                log.warning(
                    "replacing collection %r by an alias of versioned collections", self.collection
                )
                self.client.delete_collection(self.collection)
            operations.append(
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(
                        collection_name=version.collection, alias_name=self.collection
                    )
                )
            )
            self.client.update_collection_aliases(change_aliases_operations=operations)
            self._spec = version._spec
            if previous is not None and previous != version.collection:
                self.client.delete_collection(previous)
        version.close()
        return True

    def _version_name(self, number: int) -> str:
        return f"{self.collection}_v{number}"

    def _version_number(self, name: str) -> int | None:
        match = re.fullmatch(re.escape(self.collection) + r"_v(\d+)", name)
        return int(match.group(1)) if match else None

    def _alias_target(self) -> str | None:
        """The collection the alias names, or None (no alias: a collection from before)."""
        for alias in self.client.get_aliases().aliases:
            if alias.alias_name == self.collection:
                return str(alias.collection_name)
        return None

    def _point_alias_at(self, name: str) -> None:
        create = models.CreateAlias(collection_name=name, alias_name=self.collection)
        self.client.update_collection_aliases(
            change_aliases_operations=[models.CreateAliasOperation(create_alias=create)]
        )

    def _create(self, name: str, spec: CollectionSpec) -> None:
        self.client.create_collection(
            name,
            vectors_config={
                vector: models.VectorParams(
                    size=int(size),
                    distance=models.Distance.COSINE,
                    on_disk=True if vector in spec.on_disk else None,
                    multivector_config=_MAX_SIM if vector in spec.multi else None,
                    datatype=models.Datatype.FLOAT16 if vector in spec.multi else None,
                    hnsw_config=models.HnswConfigDiff(m=0) if vector in spec.multi else None,
                )
                for vector, size in spec.dense.items()
            },
            sparse_vectors_config={
                vector: models.SparseVectorParams(modifier=models.Modifier.IDF)
                for vector in spec.sparse
            },
            metadata={METADATA_KEY: compat.spec_record(spec)},
        )

    # -- helpers ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise IndexUnavailable(f"the vector index {self._where} is closed")

    @contextlib.contextmanager
    def _engine(self, action: str) -> Iterator[None]:
        """Hold the lock (local mode) around client calls; client errors -> IndexUnavailable."""
        with self._lock:
            self._check_open()
            try:
                yield
            except (VitrineError, TypeError):
                raise
            except Exception as exc:  # transport errors, server answers, local ValueErrors
                raise IndexUnavailable(
                    f"the vector index {self._where} could not {action}: {exc}"
                ) from exc

    def _stored_spec(self) -> tuple[CollectionSpec | None, Mapping[str, Any]]:
        """The spec the collection was built for: sizes as Qdrant has them, encoders as
        recorded in its metadata (None without a record); and its payload indexes."""
        described = self.client.get_collection(self.collection)
        record = (described.config.metadata or {}).get(METADATA_KEY)
        if not isinstance(record, Mapping):
            return None, described.payload_schema
        vectors = described.config.params.vectors
        dense = (
            {name: int(p.size) for name, p in vectors.items()}
            if isinstance(vectors, Mapping)
            else {}
        )
        multi = (
            frozenset(n for n, p in vectors.items() if p.multivector_config is not None)
            if isinstance(vectors, Mapping)
            else frozenset()
        )
        sparse = tuple(described.config.params.sparse_vectors or {})
        recorded = compat.spec_from_record(record)
        spec = CollectionSpec(dense=dense, encoders=recorded.encoders, sparse=sparse, multi=multi)
        return spec, described.payload_schema

    def _point(self, point: Point) -> models.PointStruct:
        vector: dict[str, Any] = {
            name: compat.vector_values(v, name, self._spec) for name, v in point.vectors.items()
        }
        for name, sparse in point.sparse.items():
            if len(sparse.indices):
                vector[name] = models.SparseVector(
                    indices=list(sparse.indices), values=list(sparse.values)
                )
        return models.PointStruct(id=point.id, vector=vector, payload=dict(point.payload))

    def _query(
        self, query: Query
    ) -> tuple[list[float] | list[list[float]] | models.SparseVector, str]:
        if isinstance(query, DenseQuery):
            return compat.vector_values(query.vector, query.using, self._spec), query.using
        if isinstance(query, SparseQuery):
            sparse = models.SparseVector(
                indices=list(query.vector.indices), values=list(query.vector.values)
            )
            return sparse, query.using
        raise TypeError(f"not a query: {query!r}")

    def _signal(
        self, signal: CandidateQuery
    ) -> tuple[list[float] | list[list[float]] | models.SparseVector | models.RecommendQuery, str]:
        if isinstance(signal, RecommendQuery):
            recommend = models.RecommendInput(
                positive=[
                    compat.dense_values(v, signal.using, self._spec) for v in signal.positive
                ],
                negative=[
                    compat.dense_values(v, signal.using, self._spec) for v in signal.negative
                ],
                strategy=models.RecommendStrategy.BEST_SCORE,
            )
            return models.RecommendQuery(recommend=recommend), signal.using
        return self._query(signal)

    def _prefetches(
        self, signals: Sequence[CandidateQuery], flt: models.Filter | None, depth: int
    ) -> list[models.Prefetch]:
        prefetches = []
        for signal in signals:
            query, using = self._signal(signal)
            prefetches.append(
                models.Prefetch(
                    prefetch=self._within(signal, flt, depth),
                    query=query,
                    using=using,
                    filter=flt,
                    params=self._signal_params(signal, depth),
                    limit=depth,
                )
            )
        return prefetches

    def _within(
        self, signal: CandidateQuery, flt: models.Filter | None, depth: int
    ) -> list[models.Prefetch] | None:
        """The candidates a query re-scores (``port.rescored``), or None."""
        if (within := rescored(signal, depth)) is None:
            return None
        inner, limit = within
        query, using = self._query(inner)
        return [
            models.Prefetch(
                query=query,
                using=using,
                filter=flt,
                params=self._signal_params(inner, limit),
                limit=limit,
            )
        ]

    def _signal_params(self, signal: CandidateQuery, depth: int) -> models.SearchParams | None:
        if self.local or isinstance(signal, SparseQuery):
            return None  # local mode is exact and warns about search params
        return models.SearchParams(hnsw_ef=max(self.hnsw_ef, depth))


def qdrant_filter(filters: Filters) -> models.Filter | None:
    """The shopper filters as one Qdrant payload filter (None when nothing narrows)."""
    must: list[models.Condition] = []
    if filters.categories:
        must.append(
            models.FieldCondition(
                key="category", match=models.MatchAny(any=list(filters.categories))
            )
        )
    if filters.brands:
        must.append(
            models.FieldCondition(key="brand", match=models.MatchAny(any=list(filters.brands)))
        )
    if filters.price_min is not None or filters.price_max is not None:
        # A range never matches a point without a price, which is what shoppers expect.
        price = models.Range(gte=filters.price_min, lte=filters.price_max)
        must.append(models.FieldCondition(key="price", range=price))
    if filters.in_stock is not None:
        must.append(
            models.FieldCondition(key="in_stock", match=models.MatchValue(value=filters.in_stock))
        )
    must_not: list[models.Condition] = []
    if filters.exclude_ids:
        must_not.append(models.HasIdCondition(has_id=list(filters.exclude_ids)))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def _open_local(location: str) -> QdrantClient:
    # The adapter's lock serialises every call, so the SQLite connection local mode opens in
    # this thread may safely be used from Flask's request threads.
    if location == ":memory:":
        return QdrantClient(location=location, force_disable_check_same_thread=True)
    return QdrantClient(path=location, force_disable_check_same_thread=True)


_MAX_SIM = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)


def _delete_alias(alias: str) -> models.DeleteAliasOperation:
    return models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))


def _hit(point: models.ScoredPoint) -> Hit:
    return Hit(id=str(point.id), score=float(point.score), payload=dict(point.payload or {}))


def _named_arrays(stored: Any, names: Sequence[str]) -> dict[str, NDArray[np.float32]]:
    if not names or not isinstance(stored, Mapping):
        return {}
    return {
        name: np.asarray(stored[name], dtype=np.float32)
        for name in names
        if isinstance(stored.get(name), list)
    }


def _fusion(fusion: str, weights: Sequence[float] | None) -> models.Query:
    if fusion == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    rrf = models.Rrf(k=RRF_K, weights=None if weights is None else [float(w) for w in weights])
    return models.RrfQuery(rrf=rrf)
