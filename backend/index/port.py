"""The vector-index port: the small vocabulary the rest of Vitrine speaks to Qdrant in.

Only the adapters (``edge.py`` for Qdrant Edge in-process, ``qdrant.py`` for qdrant-client)
import an engine; loaders and search build ``Point``s, ``Filters`` and queries from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

# Point ids are UUIDv5 of the sku in this namespace, so reloading a catalog never duplicates.
POINT_NAMESPACE = uuid.UUID("6f1c3f0e-5b7a-4c59-9d1e-7a4f2b8e9c10")

# Payload fields with an index: the filters a shopper can apply.
KEYWORD_FIELDS = ("sku", "category", "brand")
FLOAT_FIELDS = ("price",)
BOOL_FIELDS = ("in_stock",)

Vector = Sequence[float] | NDArray[np.float32]


def point_id(sku: str) -> str:
    """The stable point id of a product: UUIDv5 of its sku."""
    return str(uuid.uuid5(POINT_NAMESPACE, sku))


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector: parallel lists of dimension indices and weights."""

    indices: Sequence[int]
    values: Sequence[float]


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection holds: dense vector sizes and the encoders that made them."""

    dense: Mapping[str, int]  # vector name -> dimension, e.g. {"text": 384, "image": 1280}
    encoders: Mapping[str, str]  # vector name -> encoder name, e.g. {"text": "minilm"}
    sparse: Sequence[str] = ("keywords",)
    # Dense vectors kept on disk (memory-mapped) rather than in RAM: a storage choice made at
    # creation, not part of what the collection is checked against.
    on_disk: frozenset[str] = frozenset()
    # Dense vectors that hold several rows a point (one per name of a product), compared with
    # a query by their best row (Qdrant's multivectors, MaxSim), stored in 16-bit floats and
    # without a search graph (see ``DenseQuery.within``).
    multi: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Point:
    """One product as the index stores it (a ``multi`` vector's value has one row each)."""

    id: str
    vectors: Mapping[str, Vector] = field(default_factory=dict)
    sparse: Mapping[str, SparseVector] = field(default_factory=dict)
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPoint:
    """A point read back from the index; ``vectors`` and ``sparse`` hold only the names
    asked for."""

    id: str
    payload: Mapping[str, Any]
    vectors: Mapping[str, NDArray[np.float32]] = field(default_factory=dict)
    sparse: Mapping[str, SparseVector] = field(default_factory=dict)


@dataclass(frozen=True)
class Filters:
    """Shopper filters, applied inside the vector query (never by dropping results after)."""

    categories: Sequence[str] = ()  # any of
    brands: Sequence[str] = ()  # any of
    price_min: float | None = None  # inclusive
    price_max: float | None = None  # inclusive
    in_stock: bool | None = None
    exclude_ids: Sequence[str] = ()  # point ids never returned (the product itself in "similar")

    def is_empty(self) -> bool:
        """True when nothing narrows the query."""
        return not (
            self.categories
            or self.brands
            or self.price_min is not None
            or self.price_max is not None
            or self.in_stock is not None
            or self.exclude_ids
        )


@dataclass(frozen=True)
class DenseQuery:
    """Nearest neighbours of ``vector`` in the named dense vector ``using``; with ``within``,
    only among the best ``within_limit`` matches of that other query (or as many as the
    search asks for, if more), which is how a ``multi`` vector is searched: it has no search
    graph (building one compares every row of a point with every row of its neighbours) and
    re-scores another signal's candidates instead."""

    vector: Vector
    using: str
    within: DenseQuery | None = None
    within_limit: int = 100


@dataclass(frozen=True)
class SparseQuery:
    """Dot-product match of a sparse vector against the named sparse vector ``using``."""

    vector: SparseVector
    using: str = "keywords"


Query = DenseQuery | SparseQuery

# How hybrid search combines its signals: reciprocal rank (weights allowed) or
# distribution-based score fusion (scores normalised per signal by mean ± 3 sd).
FUSIONS = ("rrf", "dbsf")
# The k both adapters give RRF: rank r of a signal weighted w scores 1 / (r / w + k - 1).
RRF_K = 60

# Qdrant's DBSF sums the normalised scores of its prefetches and takes no weights, so a DBSF
# weight is a whole number of times the signal's prefetch is listed: each unit is one more
# search of that signal, hence the small cap.
DBSF_MAX_WEIGHT = 8


def dbsf_weight(weight: float) -> bool:
    """Whether DBSF can weigh a signal so: a whole number 0..DBSF_MAX_WEIGHT."""
    return float(weight).is_integer() and 0 <= weight <= DBSF_MAX_WEIGHT


def check_fusion(queries: Sequence[object], fusion: str, weights: Sequence[float] | None) -> None:
    """Raise ValueError unless the adapters can fuse these queries this way."""
    if not queries:
        raise ValueError("hybrid search needs at least one query")
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
    if weights is None:
        return
    if len(weights) != len(queries) or any(not w >= 0 for w in weights):
        raise ValueError(f"need one non-negative weight per query, not {list(weights)}")
    if fusion == "dbsf" and not all(dbsf_weight(w) for w in weights):
        raise ValueError(
            f"dbsf weights are whole numbers 0..{DBSF_MAX_WEIGHT}, not {list(weights)}"
        )
    if fusion == "dbsf" and not any(weights):
        raise ValueError("dbsf needs one signal with a weight above 0")


@dataclass(frozen=True)
class RecommendQuery:
    """Points like the ``positive`` examples and unlike the ``negative`` ones in the dense
    vector ``using``: Qdrant's recommend query with the best-score strategy."""

    positive: Sequence[Vector]
    negative: Sequence[Vector] = ()
    using: str = "text"


# What a candidate list can come from: a nearest-neighbour signal or a recommendation.
CandidateQuery = DenseQuery | SparseQuery | RecommendQuery


def rescored(signal: CandidateQuery, depth: int) -> tuple[DenseQuery, int] | None:
    """The query whose best matches ``signal`` re-scores and how many of them
    (``DenseQuery.within``: its ``within_limit``, or ``depth`` if a search asks for more), or
    None for a signal that searches the whole collection."""
    if not isinstance(signal, DenseQuery) or signal.within is None:
        return None
    return signal.within, max(signal.within_limit, depth)


def fused_lists(
    queries: Sequence[CandidateQuery], fusion: str, weights: Sequence[float] | None
) -> tuple[list[CandidateQuery], Sequence[float] | None]:
    """The prefetches an engine fuses and the weights its fusion takes: under DBSF each
    query listed ``weight`` times (weights already checked), so the engine counts its
    normalised scores that often; RRF takes the weights themselves."""
    if fusion != "dbsf" or weights is None:
        return list(queries), weights
    return [q for q, w in zip(queries, weights, strict=True) for _ in range(int(w))], None


@dataclass(frozen=True)
class Mmr:
    """Re-rank candidates by maximal marginal relevance in the dense vector ``using``.

    Relevance is the similarity to ``vector``; ``diversity`` (0..1) is how much the
    similarity to results already chosen counts against a candidate (0: relevance only).
    """

    vector: Vector
    using: str
    diversity: float


def check_diversify(
    signals: Sequence[object], mmr: Mmr, fusion: str, weights: Sequence[float] | None
) -> None:
    """Raise ValueError unless the adapters can re-rank these signals' candidates by MMR."""
    if not signals:
        raise ValueError("diversify needs at least one signal")
    if len(signals) > 1:
        check_fusion(signals, fusion, weights)
    if not 0.0 <= mmr.diversity <= 1.0:
        raise ValueError(f"diversity must be between 0 and 1, not {mmr.diversity}")


@dataclass(frozen=True)
class Hit:
    """One search result: point id, engine score, stored payload."""

    id: str
    score: float
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class CollectionInfo:
    """What the index says about its collection."""

    spec: CollectionSpec
    points: int
    version: str | None = None  # the collection version serving (``v2``, ``products_v2``)


@dataclass(frozen=True)
class IndexDetails:
    """The engine's side of a collection beyond ``CollectionInfo`` (admin inspection)."""

    engine: str  # "qdrant-edge", "qdrant-local" or "qdrant-server"
    location: str  # folder or server URL and collection
    distance: str  # of every dense vector
    payload_indexes: Mapping[str, str]  # payload field -> index type, e.g. {"brand": "keyword"}
    segments: int | None = None
    indexed_vectors: int | None = None  # vectors in HNSW-indexed segments (the rest: brute force)
    versions: tuple[str, ...] = ()  # the collection's versions present (folders or collections)
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> the version it names


class VectorIndex(Protocol):
    """The port; both adapters implement it with the same behaviour."""

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection, or check that the existing one matches ``spec``.

        Raises ``IndexConfigMismatch`` naming both encoder sets when it does not.
        """

    def info(self) -> CollectionInfo | None:
        """The collection's spec and point count, or None when it does not exist yet."""

    def drop(self) -> None:
        """Delete the collection, its points and its record (a rebuild follows)."""

    def details(self) -> IndexDetails | None:
        """Engine, location, payload indexes and segments; None before the collection exists."""

    def upsert(self, points: Sequence[Point]) -> None:
        """Insert or replace points by id (durable on return)."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""

    def search(
        self,
        query: CandidateQuery,
        *,
        filters: Filters = ...,
        limit: int = 10,
        offset: int = 0,
        payload: bool = True,
    ) -> list[Hit]:
        """Best matches for one signal, filtered inside the engine (``payload=False``: hits
        without their payloads, which is much cheaper for long candidate lists)."""

    def hybrid(
        self,
        queries: Sequence[CandidateQuery],
        *,
        fusion: str = "rrf",
        weights: Sequence[float] | None = None,
        filters: Filters = ...,
        limit: int = 10,
        offset: int = 0,
        candidates: int = 100,
    ) -> list[Hit]:
        """One engine query: a filtered prefetch per signal, fused by ``fusion``.

        ``rrf`` scores a point by the sum over signals of 1 / (59 + rank / weight), the
        first of each signal at rank 1 (Qdrant's weighted RRF, k = 60: a weight divides the
        rank, so 1 / 60 for a first place at weight 1, nothing at weight 0); ``dbsf`` sums
        scores normalised per signal (mean ± 3 standard deviations to 0..1), each times its
        weight, a whole number up to DBSF_MAX_WEIGHT (``fused_lists``).
        """

    def retrieve(self, ids: Sequence[str], *, vectors: Sequence[str] = ()) -> list[StoredPoint]:
        """Points by id (missing ids are left out), with the named vectors if asked."""

    def count(self, filters: Filters = ...) -> int:
        """Exact number of points matching the filters."""

    def count_vectors(self, names: Sequence[str]) -> dict[str, int]:
        """How many points hold each named vector (a product without a picture has no image
        vector, one the fusion head does not cover no fused vector)."""

    def facet(self, key: str, *, filters: Filters = ..., limit: int = 10) -> list[tuple[str, int]]:
        """Counts of the points matching ``filters`` per value of the keyword field ``key``:
        the ``limit`` most frequent, by count then value (points without it left out).

        Qdrant's fast facet counts: exact within each segment, summed over segments, so only a
        point caught in two segments by an update in progress can count twice.
        """

    def histogram(
        self,
        key: str,
        edges: Sequence[float],
        *,
        filters: Filters = ...,
        exact_up_to: int | None = None,
    ) -> list[int]:
        """Counts of the points matching ``filters`` whose number ``key`` lies in
        ``[edges[i], edges[i + 1])``, one per bucket; a last edge of ``math.inf`` is open.

        Exact when at most ``exact_up_to`` points match ``filters`` (None: always); above,
        the engine's estimates from its payload index (a few percent off), as exact counting
        walks every matching point (tens of ms at 100k).
        """

    def recommend(
        self,
        queries: Sequence[RecommendQuery],
        *,
        filters: Filters = ...,
        limit: int = 10,
        offset: int = 0,
        candidates: int = 100,
    ) -> list[Hit]:
        """One engine query: best-score recommendation in one vector, or one per vector
        (each a filtered prefetch) fused by reciprocal rank."""

    def diversify(
        self,
        signals: Sequence[CandidateQuery],
        mmr: Mmr,
        *,
        fusion: str = "rrf",
        weights: Sequence[float] | None = None,
        filters: Filters = ...,
        limit: int = 10,
        offset: int = 0,
        candidates: int = 100,
    ) -> list[Hit]:
        """One engine query: the best ``candidates`` of the signals (fused as ``hybrid`` fuses
        them when several), re-ranked by MMR; scores are the similarity to ``mmr.vector``."""

    def optimize(self) -> None:
        """Build search structures after a bulk load (may take a while; not on a request)."""

    def ping(self) -> None:
        """Raise ``IndexUnavailable`` if the engine cannot answer."""

    def close(self) -> None:
        """Flush and release the engine (and its folder lock)."""

    def page(
        self,
        *,
        filters: Filters = ...,
        limit: int = 20,
        after: str | None = None,
        payload: Sequence[str] | None = None,
    ) -> tuple[list[StoredPoint], str | None]:
        """Up to ``limit`` points matching ``filters`` in id order from the point id
        ``after``, and where the next page starts (None after the last); ``payload`` names
        the fields to read (None: all), never vectors."""

    def new_version(self, spec: CollectionSpec) -> VectorIndex:
        """An empty collection version for ``spec`` beside the serving one, open for writes.

        Search through this index keeps answering from the serving version until
        ``switch_to`` makes the new one current (a zero-downtime rebuild).
        """

    def switch_to(self, version: VectorIndex, *, release_timeout: float = 30.0) -> bool:
        """Serve ``version`` (from ``new_version``) from now on and remove the old version.

        True when the old version is gone; False when another process still holds it after
        ``release_timeout`` seconds (it is removed there once that process follows).
        """


def payload_selection(payload: Sequence[str] | None) -> list[str] | bool:
    """What a page reads of each point's payload: all (None), these fields, or none (())."""
    return True if payload is None else list(payload) or False


def stored_points(records: Iterable[Any]) -> list[StoredPoint]:
    """An engine's scrolled records (``id``, ``payload``) as StoredPoints."""
    return [StoredPoint(id=str(r.id), payload=dict(r.payload or {})) for r in records]


def scroll(
    index: VectorIndex, *, payload: Sequence[str] = (), page_size: int = 1000
) -> Iterator[StoredPoint]:
    """Every point of ``index`` (id and the named payload fields, no vectors), a page at a
    time."""
    after: str | None = None
    while True:
        points, after = index.page(payload=payload, limit=page_size, after=after)
        yield from points
        if after is None:
            return
