"""Search hits to the search answer: hydrate from the catalog in the index's order."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from backend.api.serialize import product_json
from backend.catalog import service as catalog
from backend.catalog.db import get_session
from backend.catalog.models import Product
from backend.encoders.ext import get_encoders, get_fusion, get_multilingual
from backend.index.compat import spec_record
from backend.index.ext import get_index, get_spec
from backend.index.port import Filters, Hit
from backend.indexing import keyword_fields
from backend.search import keywords
from backend.search.ext import get_search_defaults
from backend.search.facets import compute_facets
from backend.search.service import SearchService, SignalRank
from backend.search.signals import Plan
from backend.search.tuning import Tuning

log = logging.getLogger(__name__)


def search_service() -> SearchService:
    """The search path over this app's index, encoders and search defaults."""
    text, image = get_encoders()
    defaults = get_search_defaults()
    return SearchService(
        index=get_index(),
        text_encoder=text,
        image_encoder=image,
        fusion=get_fusion(),
        candidates=defaults.candidates,
        glossary=defaults.glossary,
        hybrid_fusion=defaults.fusion,
        weights=defaults.weights,
        multilingual=get_multilingual(),
        coverage=defaults.coverage,
        tuning=_fitting(defaults.tuning.current()),
        query_vectors=defaults.query_vectors,
    )


def _fitting(tuning: Tuning | None) -> Tuning | None:
    """The stored tuning when it was fitted on the collection this app searches."""
    if tuning is None or not tuning.fits(spec_record(get_spec())):
        return None
    return tuning


def run_search(
    service: SearchService,
    plan: Plan,
    *,
    query: dict[str, Any],
    filters: Filters,
    limit: int,
    offset: int,
    mode: str | None = None,
    diversity: float = 0.0,
    facets: bool = True,
) -> dict[str, Any]:
    """Run the plan for one page, explain each hit per signal, and build the answer (with
    the facets of ``filters`` unless turned off)."""
    hits, ranks = service.run_explained(
        plan, filters=filters, limit=limit, offset=offset, diversity=diversity
    )
    if diversity:
        query = {**query, "diversity": diversity}
    if plan.translated is not None:
        query = {**query, "translated": plan.translated}
    if plan.why is not None:
        query = {**query, "signals_why": plan.why}
    if len(plan.signals) > 1:
        query = {
            **query,
            "fusion": plan.fusion,
            "weights": {s.name: plan.weight(i) for i, s in enumerate(plan.signals)},
        }
    return search_response(
        hits,
        query=query,
        filters=filters,
        limit=limit,
        offset=offset,
        mode=mode,
        explain=(plan, ranks),
        facets=search_facets(filters, enabled=facets),
    )


def _explain(
    plan: Plan, ranks: Mapping[str, SignalRank | None], product: Product
) -> dict[str, Any]:
    signals = {
        signal.name: None
        if (own := ranks.get(signal.name)) is None
        else {"rank": own.rank, "score": own.score, "weight": plan.weight(i)}
        for i, signal in enumerate(plan.signals)
    }
    explained: dict[str, Any] = {"signals": signals}
    if len(plan.signals) > 1:
        explained["fusion"] = plan.fusion
    fields = keyword_fields(product)
    if plan.exact_name is not None:
        names = {keywords.name_token(t) for f in keywords.NAME_FIELDS for t in fields[f]}
        if plan.exact_name in names:
            explained["exact_name"] = True
    if plan.terms:
        explained["matched"] = keywords.matched_terms(plan.terms, fields)
    return explained


def search_response(
    hits: Sequence[Hit],
    *,
    query: dict[str, Any],
    filters: Filters,
    limit: int,
    offset: int,
    mode: str | None = None,
    explain: tuple[Plan, Sequence[Mapping[str, SignalRank | None]]] | None = None,
    facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"results", "facets", "query"}`` with each hit's product read from the catalog.

    With ``explain`` (the plan and ``SearchService.run_explained``'s ranks), each result says how
    it ranked in every signal and which query terms its text matched.
    """
    skus = [str(hit.payload["sku"]) for hit in hits]
    products = catalog.get_products(session=get_session(), skus=skus)
    results = []
    per_hit = explain[1] if explain else [{} for _ in hits]
    for rank, (sku, hit, own) in enumerate(zip(skus, hits, per_hit, strict=True), start=offset + 1):
        product = products.get(sku)
        if product is None:
            # An orphan point (deleted from the catalog, not yet from the index): reconcile's job.
            log.warning("search hit %s has no catalog row; skipped", sku)
            continue
        explained = {"rank": rank, "mode": mode or query.get("using"), "score": hit.score}
        if explain is not None:
            explained.update(_explain(explain[0], own, product))
        results.append(
            {
                "sku": sku,
                "title": product.title,
                "score": hit.score,
                "product": product_json(product),
                "explain": explained,
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
