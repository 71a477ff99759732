"""The app as a server runs it: ``vitrine serve`` and gunicorn (``gunicorn.conf.py`` names
the factory ``loaders.wsgi:from_env()``) build it here, so both run upload jobs the same way.

In embedded mode (Qdrant Edge, the default) the serving process holds the index folder and
runs upload jobs on a thread of its own; with a Qdrant server the app only queues them for
``vitrine worker``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask

from backend.app import create_app
from backend.catalog import db
from backend.errors import IndexCorrupt, IndexMissing, VitrineError
from backend.jobs import get_runner
from backend.settings import Settings
from loaders.jobs import ThreadJobs

log = logging.getLogger(__name__)


def serving_app(settings: Settings, *, warn: Callable[[str], None] = log.warning) -> Flask:
    """The app with its job runner, its index opened now (embedded: a locked folder fails
    here); a lost or unreadable index is answered with 503s until repaired, and ``warn``
    says so."""
    if not db.is_up_to_date(settings.database_url):
        raise VitrineError("the catalog database is not migrated: run `vitrine migrate`")
    jobs = ThreadJobs() if settings.runs_jobs_in_process else None
    app = create_app(settings, jobs=jobs)
    try:
        app.extensions["vitrine_index"].get()
    except (IndexMissing, IndexCorrupt) as exc:  # serve 503 until `vitrine index repair`
        warn(f"search answers 503: {exc.message}")
    return app


def close(app: Flask) -> None:
    """Stop the app's job runner (a job stopped mid-way resumes at the next start) and
    release the index."""
    get_runner(app).stop()
    app.extensions["vitrine_index"].close()


def from_env() -> Flask:
    """The app of the ``VITRINE_*`` settings (gunicorn calls this in each worker)."""
    return serving_app(Settings.from_env())
