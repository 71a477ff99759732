"""Search hits to the search answer: hydrate from the catalog in the index's order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from flask import current_app

from backend.api.serialize import product_json
from backend.catalog import service as catalog
from backend.catalog.db import get_session
from backend.encoders.ext import get_encoders, get_fusion
from backend.index.ext import get_index
from backend.index.port import Filters, Hit
from backend.search.facets import compute_facets
from backend.search.service import SearchService

log = logging.getLogger(__name__)


def search_service() -> SearchService:
    """The search path over this app's index and encoders."""
    text, image = get_encoders()
    settings = current_app.config["VITRINE_SETTINGS"]
    return SearchService(
        index=get_index(),
        text_encoder=text,
        image_encoder=image,
        fusion=get_fusion(),
        candidates=settings.search_candidates,
    )


def search_response(
    hits: Sequence[Hit],
    *,
    query: dict[str, Any],
    filters: Filters,
    limit: int,
    offset: int,
    mode: str | None = None,
    facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"results", "facets", "query"}`` with each hit's product read from the catalog."""
    skus = [str(hit.payload["sku"]) for hit in hits]
    products = catalog.get_products(session=get_session(), skus=skus)
    results = []
    for rank, (sku, hit) in enumerate(zip(skus, hits, strict=True), start=offset + 1):
        product = products.get(sku)
        if product is None:
            # An orphan point (deleted from the catalog, not yet from the index): reconcile's job.
            log.warning("search hit %s has no catalog row; skipped", sku)
            continue
        results.append(
            {
                "sku": sku,
                "title": product.title,
                "score": hit.score,
                "product": product_json(product),
                "explain": {"rank": rank, "mode": mode or query.get("using"), "score": hit.score},
            }
        )
    filters_json = {k: v for k, v in asdict(filters).items() if v not in (None, (), [])}
    filters_json.pop("exclude_ids", None)
    return {
        "results": results,
        "facets": facets or {},
        "query": {**query, "filters": filters_json, "limit": limit, "offset": offset},
    }


def search_facets(filters: Filters, *, enabled: bool = True) -> dict[str, Any]:
    """The answer's ``facets`` for ``filters`` (``{}`` when the caller turned them off)."""
    if not enabled:
        return {}
    return compute_facets(get_index(), filters).to_json()
