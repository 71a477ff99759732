"""Health and product image files."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, send_from_directory

from backend.api.results import search_service
from backend.catalog import jobs as job_queue
from backend.catalog import service as catalog
from backend.catalog.db import get_session
from backend.errors import IndexConfigMismatch, IndexUnavailable
from backend.index import compat
from backend.index.consistency import Consistency
from backend.index.ext import get_index, get_spec
from backend.jobs import get_runner

bp = Blueprint("system", __name__)


@bp.get("/health")
def health() -> tuple[dict[str, Any], int]:
    """How the catalog and the index compare, and the fusion head with how many of the
    indexed products it was trained on.

    ``ok``: search finds every product. ``degraded`` (200): search answers, but ``problems``
    says what it misses (products without vectors, points without products, an index built
    for other encoders). ``unavailable`` (503): the index cannot answer (down, locked, lost
    or corrupt: ``index_error_code`` says which), and neither can search.
    """
    session = get_session()
    products = catalog.count_products(session=session)
    indexed = catalog.count_indexed(session=session)
    body: dict[str, Any] = {"status": "ok", "products": products, "indexed": indexed}
    try:
        index = get_index()
        index.ping()
        info = index.info()
        points = 0 if info is None else info.points
        body.update(points=points, index_version=None if info is None else info.version)
        state = Consistency.compare(
            products=products,
            indexed=indexed,
            points=points,
            loading=job_queue.count_active_jobs(session=session) > 0,
            repairing=get_runner().repairing,
        )
        problems = list(state.problems)
        if info is not None:
            try:
                compat.check_compatible(info.spec, get_spec(), where="being served")
            except IndexConfigMismatch as exc:  # switched to by another process's reindex
                problems.append(exc.message)
        body.update(
            status="degraded" if problems else "ok",
            pending=state.pending,
            loading=state.loading,
            repairing=state.repairing,
            problems=problems,
        )
        service = search_service()
        if service.fusion is not None:
            coverage = service.head_coverage()
            body["fusion_head"] = {
                "name": service.fusion.name,
                "products_trained_on": None if coverage is None else coverage.known,
            }
    except IndexUnavailable as exc:
        body.update(
            status="unavailable",
            index_error=exc.message,
            index_error_code=exc.code,
            pending=products - indexed,
        )
        return body, 503
    return body, 200


@bp.get("/media/<path:name>")
def media(name: str) -> Response:
    """A product image stored by the loader (content-addressed, so cacheable for long)."""
    settings = current_app.config["VITRINE_SETTINGS"]
    return send_from_directory(settings.media_dir.resolve(), name, max_age=31536000)
