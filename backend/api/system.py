"""Health and product image files."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, send_from_directory

from backend.api.results import search_service
from backend.catalog import service as catalog
from backend.catalog.db import get_session
from backend.errors import IndexUnavailable
from backend.index.ext import get_index

bp = Blueprint("system", __name__)


@bp.get("/health")
def health() -> tuple[dict[str, Any], int]:
    """Catalog and index counts, and the fusion head with how many of the indexed products it
    was trained on; 503 with the reason when the index cannot answer."""
    session = get_session()
    body: dict[str, Any] = {
        "status": "ok",
        "products": catalog.count_products(session=session),
        "indexed": catalog.count_indexed(session=session),
    }
    try:
        index = get_index()
        index.ping()
        body["points"] = index.count()
        service = search_service()
        if service.fusion is not None:
            coverage = service.head_coverage()
            body["fusion_head"] = {
                "name": service.fusion.name,
                "products_trained_on": None if coverage is None else coverage.known,
            }
    except IndexUnavailable as exc:
        body.update(status="unavailable", index_error=exc.message)
        return body, 503
    return body, 200


@bp.get("/media/<path:name>")
def media(name: str) -> Response:
    """A product image stored by the loader (content-addressed, so cacheable for long)."""
    settings = current_app.config["VITRINE_SETTINGS"]
    return send_from_directory(settings.media_dir.resolve(), name, max_age=31536000)
