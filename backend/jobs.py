"""Upload jobs from the app's side: the app queues them, a runner given from outside runs them.

``backend`` must not import ``loaders``, which does the loading: the ``vitrine`` command (the
composition root) builds a runner and passes it to ``create_app(settings, jobs=...)``. The
app hands the runner a ``JobContext`` (its catalog sessions, index and encoders: in embedded
mode only this process may open the index) and tells it about each new job. Without a
runner (``QueuedJobs``) jobs wait in the database for a ``vitrine worker`` process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FusionHead
from backend.encoders.multilingual import MultilingualEncoder
from backend.errors import Conflict
from backend.index.port import CollectionSpec, VectorIndex
from backend.search.definitions import Dictionary
from backend.settings import Settings

EXTENSION = "vitrine_jobs"


@dataclass(frozen=True)
class JobContext:
    """What a runner needs from the app to run load jobs in its process."""

    settings: Settings
    sessions: sessionmaker[Session]
    index: Callable[[], VectorIndex]  # the app's index, opened on demand
    encoders: Callable[[], tuple[TextEncoder, ImageEncoder]]
    fusion: Callable[[], FusionHead | None]  # the head served now (a refresh replaces it)
    dictionary: Dictionary | None  # definitions of product names (text vectors)
    multilingual: MultilingualEncoder | None  # the multilingual vector's encoder
    # Serve a retrained head and the collection spec its index version was built for; None
    # where no app serves from this process (`vitrine worker`).
    switch_head: Callable[[FusionHead, CollectionSpec], None] | None = None


class JobRunner(Protocol):
    """Runs queued load jobs; ``create_app`` starts it and the app submits new jobs to it."""

    def start(self, context: JobContext) -> None:
        """Begin: take over jobs a previous process left running or queued."""

    def submit(self, job_id: str) -> None:
        """A new job was queued (committed): run it soon."""

    def stop(self) -> None:
        """Stop after the current batch and wait; an unfinished job stays resumable."""

    @property
    def repairing(self) -> bool:
        """Whether it is indexing products a failed or interrupted load left without vectors."""

    def reconcile(self, *, dry_run: bool) -> dict[str, Any]:
        """Compare the catalog with the index and, unless ``dry_run``, repair what differs;
        Conflict while a job runs or where another process does it."""


class QueuedJobs:
    """The runner of a server-mode app: jobs wait in the database for ``vitrine worker``."""

    def start(self, context: JobContext) -> None:
        """Nothing to start: workers poll the jobs table."""

    def submit(self, job_id: str) -> None:
        """Nothing to do: the job is in the table already."""

    def stop(self) -> None:
        """Nothing runs here."""

    @property
    def repairing(self) -> bool:
        """Never: ``vitrine worker`` reconciles in its own process."""
        return False

    def reconcile(self, *, dry_run: bool) -> dict[str, Any]:
        """Not here: with a Qdrant server, ``vitrine worker`` does it."""
        raise Conflict(
            "this server does not run jobs: `vitrine worker` reconciles every "
            "VITRINE_RECONCILE_INTERVAL_S seconds, and `vitrine reconcile [--dry-run]` at once"
        )


def init_app(app: Flask, runner: JobRunner, context: JobContext) -> None:
    """Attach ``runner`` to the app and start it with the app's resources."""
    app.extensions[EXTENSION] = runner
    runner.start(context)


def get_runner(app: Flask | None = None) -> JobRunner:
    """The job runner of ``app`` (default: the current app)."""
    target = current_app if app is None else app
    runner: JobRunner = target.extensions[EXTENSION]
    return runner
