"""Catalog routes: list products, one product, more like this."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from backend.api.results import run_search, search_service
from backend.api.serialize import product_json
from backend.catalog import service as catalog
from backend.catalog.db import get_session
from backend.search.params import (
    PAGE_PARAMS,
    RESULT_PARAMS,
    check_known,
    parse_diversity,
    parse_facets,
    parse_filters,
    parse_fusion,
    parse_page,
)
from backend.search.service import exclude

bp = Blueprint("products", __name__, url_prefix="/api/products")


@bp.get("")
def list_products() -> dict[str, Any]:
    """Catalog listing, filtered by category/brand, ordered by sku."""
    check_known(request.args, PAGE_PARAMS | {"category", "brand"})
    limit, offset = parse_page(request.args, default_limit=20)
    categories = request.args.getlist("category")
    brands = request.args.getlist("brand")
    session = get_session()
    products = catalog.list_products(
        session=session, categories=categories, brands=brands, limit=limit, offset=offset
    )
    total = catalog.count_products(session=session, categories=categories, brands=brands)
    return {
        "products": [product_json(p) for p in products],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@bp.get("/<sku>")
def get_product(sku: str) -> dict[str, Any]:
    """One product by sku (404 if unknown)."""
    return product_json(catalog.get_product(session=get_session(), sku=sku))


@bp.get("/<sku>/similar")
def similar(sku: str) -> dict[str, Any]:
    """Products like this one (never itself), with the same filters as search."""
    catalog.get_product(session=get_session(), sku=sku)  # 404 for an unknown sku
    check_known(request.args, RESULT_PARAMS | {"using"})
    filters = parse_filters(request.args)
    limit, offset = parse_page(request.args)
    using = request.args.get("using") or None
    fusion, weights = parse_fusion(request.args)
    service = search_service()
    plan = service.plan_similar(sku, using=using, fusion=fusion, weights=weights)
    return run_search(
        service,
        plan,
        query={"sku": sku, "using": using or "+".join(s.name for s in plan.signals)},
        filters=exclude(filters, sku),
        limit=limit,
        offset=offset,
        diversity=parse_diversity(request.args),
        facets=parse_facets(request.args),
    )
