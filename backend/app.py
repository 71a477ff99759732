"""``create_app(settings)``: the Flask application factory; blueprints are registered here."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from backend import jobs as jobs_ext
from backend.api import (
    admin,
    admission,
    errors,
    guards,
    openapi,
    products,
    recommend,
    search,
    system,
)
from backend.catalog import db
from backend.catalog import service as catalog_service
from backend.encoders import ext as encoders_ext
from backend.encoders.fusion import FusionHead
from backend.index import ext as index_ext
from backend.index.port import CollectionSpec
from backend.indexing import collection_spec
from backend.jobs import JobContext, JobRunner, QueuedJobs
from backend.search import ext as search_ext
from backend.settings import Settings
from backend.web import bp as web_bp

log = logging.getLogger(__name__)
# Multipart overhead allowed on top of the image size limit before Flask answers 413.
_FORM_OVERHEAD = 64 * 1024


def _count_indexed(sessions: sessionmaker[Session]) -> int:
    """Products the catalog marks indexed; 0 for a catalog not migrated yet (it has none)."""
    try:
        with db.session_scope(sessions) as session:
            return catalog_service.count_indexed(session=session)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not count the catalog's indexed products: %s", exc)
        return 0


def _switch_head(app: Flask, head: FusionHead, spec: CollectionSpec) -> None:
    """Serve a retrained fusion head: the index has switched to a version fused by it."""
    app.extensions[index_ext.EXTENSION].respec(spec)
    encoders_ext.set_fusion_of(app, head)
    log.info("serving fusion head %s", head.name)


def create_app(
    settings: Settings | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    jobs: JobRunner | None = None,
) -> Flask:
    """Build the app: catalog database, encoders, vector index, blueprints, error handlers.

    ``jobs`` runs admin uploads (the ``vitrine`` command passes one: ``backend`` does not
    import the loaders); without it, uploads wait in the database for ``vitrine worker``.
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # the pages serve their own (backend/web)
    app.config.update(
        VITRINE_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_image_bytes + _FORM_OVERHEAD,
        JSON_SORT_KEYS=False,
    )
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    db.init_app(app)
    encoders_ext.init_app(app)
    text, image = encoders_ext.get_encoders_of(app)
    fusion, dictionary = encoders_ext.get_fusion_of(app), encoders_ext.get_dictionary_of(app)
    multilingual = encoders_ext.get_multilingual_of(app)
    sessions = db.get_catalog(app).sessionmaker
    index_ext.init_app(
        app,
        collection_spec(text, image, fusion, dictionary, multilingual),
        indexed=lambda: _count_indexed(sessions),
    )
    search_ext.init_app(app)

    for blueprint in (
        products.bp,
        search.bp,
        system.bp,
        recommend.bp,
        admin.bp,
        openapi.bp,
        web_bp,
    ):
        app.register_blueprint(blueprint)
    errors.register_error_handlers(app)
    guards.register_guards(app)
    admission.init_app(app)

    context = JobContext(
        settings=settings,
        sessions=sessions,
        index=app.extensions[index_ext.EXTENSION].get,
        encoders=lambda: encoders_ext.get_encoders_of(app),
        fusion=lambda: encoders_ext.get_fusion_of(app),
        dictionary=dictionary,
        multilingual=multilingual,
        switch_head=lambda head, spec: _switch_head(app, head, spec),
    )
    jobs_ext.init_app(app, jobs or QueuedJobs(), context)
    return app
