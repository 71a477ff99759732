"""The search path shared by the HTTP routes and the evaluation harness.

Each entry point encodes the query, builds one engine query (a signal, or a prefetch per
signal fused by RRF) with the shopper's filters inside it, and returns the index's hits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PIL import Image

from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FusionHead
from backend.errors import InvalidRequest, NotFound
from backend.index.port import (
    DenseQuery,
    Filters,
    Hit,
    Mmr,
    Query,
    SparseQuery,
    VectorIndex,
    point_id,
)
from backend.indexing import FUSED_VECTOR, IMAGE_VECTOR, KEYWORDS_VECTOR, TEXT_VECTOR
from backend.search import keywords

SIMILAR_USING = ("text", "image", "fused")
IMAGE_MODES = ("image", "fused", "hybrid")
DEFAULT_IMAGE_MODE = "image"
NO_FILTERS = Filters()
PAGE_SLACK = 10  # extra hits fetched to see whether scores tie across the page boundary
MAX_TIE_FETCH = 20_000


class ModeUnavailable(InvalidRequest):
    """A mode the deployed models cannot answer yet (text to image needs the fusion head)."""

    code = "mode_unavailable"


@dataclass(frozen=True)
class SearchService:
    """Search over one index with one pair of encoders (and the fusion head, if any)."""

    index: VectorIndex
    text_encoder: TextEncoder
    image_encoder: ImageEncoder
    fusion: FusionHead | None = None
    candidates: int = 100

    def search_text(
        self,
        q: str,
        *,
        mode: str = "hybrid",
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
        diversity: float = 0.0,
    ) -> list[Hit]:
        """Products for a shopper's words in the given mode.

        ``hybrid`` fuses the keyword, text and (with a fusion head) fused signals by RRF;
        ``fused`` compares the query with products' text and pictures through the head.
        """
        if mode == "image":
            raise ModeUnavailable(
                "mode=image takes a picture: POST it to /api/search/image; words reach "
                "products' pictures through mode=fused"
            )
        if mode == "fused":
            self._require_head("mode=fused")
        signals: list[Query] = []
        if mode in ("hybrid", "text", "fused"):
            features = self.text_encoder.encode([q])
            if mode != "fused":
                signals.append(DenseQuery(features[0], TEXT_VECTOR))
            if self.fusion is not None and mode != "text":
                signals.append(DenseQuery(self.fusion.text_query(features)[0], FUSED_VECTOR))
        if mode in ("hybrid", "keyword"):
            sparse = keywords.query_vector(q)
            if sparse.indices:
                signals.append(SparseQuery(sparse, KEYWORDS_VECTOR))
        return self._run(signals, filters=filters, limit=limit, offset=offset, diversity=diversity)

    def search_image(
        self,
        picture: Image.Image,
        *,
        mode: str = "image",
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
        diversity: float = 0.0,
    ) -> list[Hit]:
        """Products that look like the picture: ``image`` compares pictures, ``fused`` the
        picture with products' text and pictures through the head, ``hybrid`` both (RRF)."""
        if mode not in IMAGE_MODES:
            raise ModeUnavailable(
                f"mode={mode} needs words; a picture is searched with mode "
                + ", ".join(IMAGE_MODES)
            )
        if mode == "fused":
            self._require_head("mode=fused")
        features = self.image_encoder.encode([picture])
        signals: list[Query] = []
        if mode in ("image", "hybrid"):
            signals.append(DenseQuery(features[0], IMAGE_VECTOR))
        if self.fusion is not None and mode in ("fused", "hybrid"):
            signals.append(DenseQuery(self.fusion.image_query(features)[0], FUSED_VECTOR))
        return self._run(signals, filters=filters, limit=limit, offset=offset, diversity=diversity)

    def similar(
        self,
        sku: str,
        *,
        using: str | None = None,
        filters: Filters = NO_FILTERS,
        limit: int = 10,
        offset: int = 0,
        diversity: float = 0.0,
    ) -> list[Hit]:
        """More like this product (never the product itself): one vector, or text and image
        (and fused, with a head) by RRF."""
        if using is not None and using not in SIMILAR_USING:
            raise InvalidRequest(f"using must be one of {', '.join(SIMILAR_USING)}, not {using!r}")
        if using == "fused":
            self._require_head("using=fused")
        pid = point_id(sku)
        default = [TEXT_VECTOR, IMAGE_VECTOR] + ([FUSED_VECTOR] if self.fusion else [])
        names = [using] if using else default
        stored = self.index.retrieve([pid], vectors=names)
        if not stored:
            raise NotFound(f"product {sku!r} is not in the search index yet")
        signals: list[Query] = [DenseQuery(v, n) for n, v in stored[0].vectors.items()]
        if not signals:
            raise NotFound(f"product {sku!r} has no {using} vector to compare with")
        filters = replace(filters, exclude_ids=(*filters.exclude_ids, pid))
        return self._run(signals, filters=filters, limit=limit, offset=offset, diversity=diversity)

    def _require_head(self, what: str) -> None:
        if self.fusion is None:
            raise ModeUnavailable(
                f"{what} needs the trained fusion head, and this deployment runs without one "
                "(VITRINE_FUSION_HEAD=none, or no head fits its encoders)"
            )

    def _run(
        self,
        signals: list[Query],
        *,
        filters: Filters,
        limit: int,
        offset: int,
        diversity: float = 0.0,
    ) -> list[Hit]:
        if not signals:
            return []
        if diversity > 0:
            return self._run_diverse(
                signals, filters=filters, limit=limit, offset=offset, diversity=diversity
            )
        # Pages must not overlap or skip. Engines order equal scores (common under RRF and
        # for keyword matches) differently for different limits, so fetch from rank 1 until
        # every hit tied with the page's last one is in, then break ties by point id.
        end = offset + limit
        fetch = end + PAGE_SLACK
        while True:
            hits = self._fetch(signals, filters=filters, limit=fetch)
            hits.sort(key=lambda hit: (-hit.score, hit.id))
            complete = len(hits) < fetch or hits[-1].score < hits[end - 1].score
            if complete or fetch >= MAX_TIE_FETCH:
                return hits[offset:end]
            fetch = min(fetch * 2, MAX_TIE_FETCH)

    def _fetch(self, signals: list[Query], *, filters: Filters, limit: int) -> list[Hit]:
        if len(signals) == 1:
            return self.index.search(signals[0], filters=filters, limit=limit)
        return self.index.hybrid(signals, filters=filters, limit=limit, candidates=self.candidates)

    def _run_diverse(
        self, signals: list[Query], *, filters: Filters, limit: int, offset: int, diversity: float
    ) -> list[Hit]:
        """The signals' candidates (fused by RRF when several) re-ranked by MMR in the engine.

        MMR measures relevance and likeness in one dense vector: the first dense signal's
        (text for words, image for a picture, the ``using`` vector for similar). Its order is
        greedy, so pages concatenate as long as they end within the candidate pool.
        """
        dense = next((s for s in signals if isinstance(s, DenseQuery)), None)
        if dense is None:
            raise ModeUnavailable(
                "diversity needs a dense signal to compare products with, and mode=keyword "
                "ranks by words only: use mode=hybrid or text"
            )
        mmr = Mmr(dense.vector, dense.using, diversity)
        return self.index.diversify(
            signals,
            mmr,
            filters=filters,
            limit=limit,
            offset=offset,
            candidates=self.candidates,
        )
