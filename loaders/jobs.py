"""Upload jobs run: an uploaded catalog through the ingest pipeline, checkpointed per batch.

A job's batch is stored and its checkpoint (rows handled, counts, rejected rows) saved in one
transaction, then the batch is indexed; so after a crash the job resumes after its
checkpoint, products stored but not yet indexed are indexed at the end (they are pending,
never marked indexed before their points are written), and no row is counted twice.

``ThreadJobs`` runs jobs on one thread of the serving process (embedded mode: that process
holds the index folder); ``run_worker`` is the loop of ``vitrine worker`` (server mode).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.catalog import jobs as job_queue
from backend.catalog import service as catalog
from backend.catalog.db import session_scope
from backend.catalog.models import LoadJob, utcnow
from backend.catalog.schema import RowError as JobRowError
from backend.errors import Conflict, IndexUnavailable, VitrineError
from backend.jobs import JobContext
from backend.storage import check_free_space
from backend.uploads import remove_upload, sweep_orphan_uploads
from loaders.encoding import encoding_process
from loaders.head_refresh import is_stale, pinned, refresh_head, refreshes
from loaders.images import open_images
from loaders.pipeline import (
    Encoders,
    LoadSummary,
    RowError,
    attach_images,
    batched,
    fusion_note,
    index_pending,
    index_products,
    store_batch,
    validate_rows,
)
from loaders.reconcile import ReconcileReport, reconcile, report_json
from loaders.sources import read_catalog

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_SIZE = 64
# Edge searches new points by brute force until optimize() runs, which blocks the process
# for a while on a large shard: worth it after a big upload, not after a few rows.
OPTIMIZE_AFTER = 1000
INDEX_RETRY_S = 5.0


class JobInterrupted(Exception):
    """The runner was asked to stop mid-job; the job stays running, to be resumed."""


class JobCancelled(Exception):
    """An admin cancelled the job; it stops before its next batch."""


def _cancelled(session: Session, job_id: str) -> bool:
    state = session.scalar(sa.select(LoadJob.state).where(LoadJob.id == job_id))
    return state == "cancelled"


def _count_rows(path: Path) -> int | None:
    """Rows of an uploaded catalog (for the job's progress); None if it cannot be read
    (the load then reports why, row by row)."""
    try:
        return sum(1 for _ in read_catalog(path))
    except (VitrineError, OSError, ValueError):
        return None


def _summary_of(job: LoadJob) -> LoadSummary:
    return LoadSummary(
        received=job.received,
        created=job.created,
        updated=job.updated,
        unchanged=job.unchanged,
        failed=job.failed,
        errors=[RowError(e.get("line"), e.get("sku"), str(e.get("reason"))) for e in job.errors],
    )


def _counts(summary: LoadSummary) -> dict[str, int]:
    return {
        "received": summary.received,
        "created": summary.created,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "failed": summary.failed,
    }


def _errors(summary: LoadSummary) -> list[JobRowError]:
    return [{"line": e.line, "sku": e.sku, "reason": e.reason} for e in summary.errors]


def _heartbeat(session: Session, job_id: str) -> None:
    session.execute(
        sa.update(LoadJob).where(LoadJob.id == job_id).values(heartbeat_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


def _checkpoint(session: Session, job_id: str, summary: LoadSummary) -> None:
    # Every row received so far is stored (this batch, committed with the checkpoint) or
    # reported: the checkpoint is simply the count of rows received.
    job = catalog.get_job(session=session, job_id=job_id)
    job_queue.save_checkpoint(
        session=session,
        job=job,
        checkpoint=summary.received,
        counts=_counts(summary),
        errors=[dict(e) for e in _errors(summary)],
    )


def _encoders(context: JobContext, *, serving: bool = False) -> Encoders:
    """The deployment's encoders, head, dictionary and multilingual encoder, for a load;
    ``serving``: those of a serving process's jobs, which encode in a child process unless
    the settings' ``job_encoding`` says otherwise."""
    head = context.fusion()
    child = serving and context.settings.job_encoding == "process"
    return Encoders(
        context.encoders,
        head,
        context.dictionary,
        context.multilingual,
        process=encoding_process(pinned(context.settings, head)) if child else None,
    )


def _refreshes(context: JobContext) -> bool:
    """Whether this process retrains a stale head by itself: an app serves from it (and
    follows the switch) and the settings ask for it."""
    return context.switch_head is not None and refreshes(context.settings)


def refresh_stale_head(
    context: JobContext, *, stop: threading.Event | None = None, serving: bool = False
) -> bool:
    """Retrain the fusion head and switch to it if it does not know every indexed product
    (``loaders/head_refresh.py``); whether it did. Failures are logged: the old head serves."""
    if not _refreshes(context) or context.switch_head is None:
        return False
    try:
        index = context.index()
        if not is_stale(context.settings, index, context.fusion()):
            return False
        log.info("the fusion head does not know every indexed product: training a new one")
        refreshed = refresh_head(
            context.settings,
            sessions=context.sessions,
            index=index,
            encoders=_encoders(context, serving=serving),
            stop=stop,
        )
    except VitrineError as exc:
        log.warning("the fusion head was not refreshed: %s", exc.message)
        return False
    if refreshed is None:
        return False
    context.switch_head(refreshed.head, refreshed.spec)
    log.info(refreshed.line())
    return True


def _finish(
    context: JobContext, job_id: str, summary: LoadSummary, *, failed: str | None = None
) -> None:
    with session_scope(context.sessions) as session:
        job = catalog.get_job(session=session, job_id=job_id)
        catalog.finish_job(
            session=session,
            job=job,
            state="failed" if failed else "succeeded",
            errors=_errors(summary),
            message=failed or "; ".join(filter(None, (summary.line(), summary.fusion_note))),
            **_counts(summary),
        )
        folder = Path(job.catalog_file).parent if job.catalog_file else None
    if folder is not None:
        remove_upload(folder)


def _until(stop: threading.Event | None, rows: Iterator[T]) -> Iterator[T]:
    """The rows, until ``stop`` is set: a stopping runner waits for one row, not a batch
    (whose image URLs could take minutes); the rows read since the checkpoint are read
    again when the job resumes."""
    for row in rows:
        if stop is not None and stop.is_set():
            raise JobInterrupted
        yield row


def run_job(
    job_id: str,
    *,
    context: JobContext,
    stop: threading.Event | None = None,
    batch_size: int = BATCH_SIZE,
    serving: bool = False,
) -> LoadSummary | None:
    """Run a claimed (running) job to its end; None if ``stop`` interrupted it first.

    ``serving``: the job runs in a serving process (``ThreadJobs``), see ``_encoders``."""
    settings = context.settings
    with session_scope(context.sessions) as session:
        job = catalog.get_job(session=session, job_id=job_id)
        catalog_file = job.catalog_file
        images_path = Path(job.images_file) if job.images_file else None
        skip = job.checkpoint
        total = job.total
        summary = _summary_of(job)
    if catalog_file is None:  # a job row made by something else than an upload
        _finish(context, job_id, summary, failed="the job has no uploaded catalog to load")
        return summary
    catalog_path = Path(catalog_file)
    if total is None:
        total = _count_rows(catalog_path)
        with session_scope(context.sessions) as session:
            catalog.get_job(session=session, job_id=job_id).total = total
    encoders = _encoders(context, serving=serving)
    try:
        index = context.index()
        source = open_images(images_path)
        try:
            rows = read_catalog(catalog_path)
            valid = validate_rows(
                rows, summary, default_currency=settings.default_currency, skip=skip
            )
            with_images = attach_images(_until(stop, valid), source, summary, settings=settings)
            for batch in batched(with_images, batch_size):
                if stop is not None and stop.is_set():
                    raise JobInterrupted
                check_free_space(settings, what="the job")
                with session_scope(context.sessions) as session:
                    # Write first: on SQLite the transaction then holds the write lock
                    # before it reads, so a request committing meanwhile cannot make the
                    # batch fail with "database is locked" (a stale read snapshot).
                    _heartbeat(session, job_id)
                    if _cancelled(session, job_id):
                        raise JobCancelled
                    pending = store_batch(session, batch, summary)
                    _checkpoint(session, job_id, summary)
                with session_scope(context.sessions) as session:
                    summary.indexed += index_products(
                        session, pending, index=index, encoders=encoders, settings=settings
                    )
        finally:
            source.close()
        summary.indexed += index_pending(
            sessions=context.sessions, index=index, encoders=encoders, settings=settings
        )
        if summary.indexed >= OPTIMIZE_AFTER:
            index.optimize()
    except JobInterrupted:
        log.info("job %s interrupted; it resumes when jobs run again", job_id)
        return None
    except JobCancelled:
        log.info("job %s cancelled after %d rows", job_id, summary.received)
        with session_scope(context.sessions) as session:
            job_queue.note_cancelled(session=session, job_id=job_id)
        return summary
    except VitrineError as exc:
        _finish(context, job_id, summary, failed=exc.message)
        return summary
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _finish(context, job_id, summary, failed=f"unexpected error: {exc}")
        return summary
    try:  # a note for the admin; the load itself has succeeded
        summary.fusion_note = fusion_note(
            index, encoders.fusion, refreshes=serving and _refreshes(context)
        )
    except VitrineError as exc:
        log.warning("job %s: could not count the products the fusion head knows: %s", job_id, exc)
    _finish(context, job_id, summary)
    return summary


@dataclass(frozen=True)
class Recovered:
    """Jobs whose runner died: queued again to resume, or finished as failed."""

    requeued: list[str]
    failed: list[str]


def recover_abandoned(context: JobContext, *, silent_for: timedelta | None = None) -> Recovered:
    """Requeue (or report failed) jobs whose runner died.

    ``silent_for=None``: every running job (embedded mode, at the serving process's start);
    else those without a heartbeat for that long (``vitrine worker``).
    """
    requeued, failed = [], []
    silent_since = None if silent_for is None else utcnow() - silent_for
    with session_scope(context.sessions) as session:
        for job in job_queue.abandoned_jobs(session=session, silent_since=silent_since):
            outcome = job_queue.recover_job(
                session=session, job=job, files_present=job_queue.files_present(job)
            )
            log.warning("job %s was interrupted: %s", job.id, job.message)
            if outcome == "requeued":
                requeued.append(job.id)
                continue
            failed.append(job.id)
            if job.catalog_file:
                remove_upload(Path(job.catalog_file).parent)
    return Recovered(requeued, failed)


# Queued to ThreadJobs instead of a job id: index what failed or interrupted loads left pending.
_REPAIR = "repair pending products"
_HEAD = "refresh the fusion head"


class ThreadJobs:
    """Runs upload jobs one at a time on a thread of the serving process (embedded mode).

    At its start, and after each job that fails, it also indexes the products left without
    vectors (a failed job's stored rows, a crashed load's last batch): search finds every
    stored product without anyone running ``vitrine reconcile``, and the failed job's
    message says so.
    """

    def __init__(self, *, batch_size: int = BATCH_SIZE) -> None:
        self.batch_size = batch_size
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: JobContext | None = None
        self._started = 0.0  # when start() ran: older upload folders are a dead server's
        self._repairing = threading.Event()
        self._busy = threading.Lock()  # held while a job, a repair or a reconcile runs
        self._failed: list[str] = []  # failed jobs whose stored products wait for a repair

    @property
    def repairing(self) -> bool:
        """Whether it is indexing products a failed or interrupted load left without vectors."""
        return self._repairing.is_set()

    def start(self, context: JobContext) -> None:
        """Start the thread: once this process holds the index, it resumes what a previous
        process left running, queues what waits, then runs jobs as they come."""
        self._context = context
        self._started = time.time()
        self._thread = threading.Thread(target=self._run, name="vitrine-jobs", daemon=True)
        self._thread.start()

    def submit(self, job_id: str) -> None:
        """Run the queued job ``job_id`` after those before it."""
        self._queue.put(job_id)

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current batch (the job stays resumable) and wait for the thread."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        assert self._context is not None
        # Holding the index is what makes this the only runner in embedded mode: a second
        # `vitrine serve` on a locked folder must not take over the first one's jobs.
        while not self._stop.is_set():
            try:
                self._context.index()
                break
            except IndexUnavailable as exc:
                log.warning("upload jobs wait for the index: %s", exc.message)
                self._stop.wait(INDEX_RETRY_S)
        else:
            return
        try:
            self._failed.extend(recover_abandoned(self._context).failed)
            with session_scope(self._context.sessions) as session:
                for job_id in job_queue.queued_job_ids(session=session):
                    self._queue.put(job_id)
                keep = job_queue.job_ids_keeping_files(session=session)
            uploads = self._context.settings.uploads_dir
            assert uploads is not None
            for name in sweep_orphan_uploads(uploads, keep=keep, older_than=self._started):
                log.warning("removed upload %s: a server stopped before it became a job", name)
        except Exception:
            log.exception("upload jobs left by a previous run could not be recovered")
        self._queue.put(_REPAIR)
        self._queue.put(_HEAD)
        self._loop()

    def _loop(self) -> None:
        assert self._context is not None
        while not self._stop.is_set():
            job_id = self._queue.get()
            if job_id is None:
                break
            try:
                if job_id == _REPAIR:
                    with self._busy:
                        self._repair()
                    continue
                if job_id == _HEAD:
                    if self._queue.empty():  # else a later job asks again
                        with self._busy:
                            refresh_stale_head(self._context, stop=self._stop, serving=True)
                    continue
                with self._busy:
                    with session_scope(self._context.sessions) as session:
                        claimed = job_queue.claim_job(session=session, job_id=job_id)
                    if claimed is None:
                        continue
                    run_job(
                        job_id,
                        context=self._context,
                        stop=self._stop,
                        batch_size=self.batch_size,
                        serving=True,
                    )
                with session_scope(self._context.sessions) as session:
                    if catalog.get_job(session=session, job_id=job_id).state == "failed":
                        self._failed.append(job_id)
                        self._queue.put(_REPAIR)
                self._queue.put(_HEAD)
            except JobInterrupted:
                break
            except Exception:  # the thread must outlive any one job
                log.exception("job %s could not run", job_id)

    def _repair(self) -> None:
        """Index every product without current vectors, and note it on the failed jobs."""
        assert self._context is not None
        context = self._context
        with session_scope(context.sessions) as session:
            pending = catalog.count_products(session=session) - catalog.count_indexed(
                session=session
            )
        if pending <= 0:
            self._failed.clear()
            return
        log.info("indexing %d products that a failed or interrupted load left pending", pending)
        self._repairing.set()
        try:
            repaired = index_pending(
                sessions=context.sessions,
                index=context.index(),
                encoders=_encoders(context, serving=True),
                settings=context.settings,
                progress=lambda _: self._raise_if_stopped(),
            )
        except VitrineError as exc:  # the index is down: the next failure or start retries
            log.warning("products left pending could not be indexed yet: %s", exc.message)
            return
        finally:
            self._repairing.clear()
        if self._failed:
            with session_scope(context.sessions) as session:
                job_queue.note_repair(session=session, job_ids=self._failed, repaired=repaired)
            self._failed.clear()
        log.info("indexed %d products left pending", repaired)

    def reconcile(self, *, dry_run: bool) -> dict[str, Any]:
        """Reconcile on the caller's thread, unless a job or a repair is running (Conflict):
        both write the same products."""
        if self._context is None:
            raise Conflict("upload jobs have not started yet")
        if not self._busy.acquire(blocking=False):
            raise Conflict(
                "an upload job or a fusion head refresh is running: reconcile when it has finished"
            )
        try:
            report = reconcile(
                sessions=self._context.sessions,
                index=self._context.index(),
                encoders=_encoders(self._context, serving=True),
                settings=self._context.settings,
                dry_run=dry_run,
            )
            if not dry_run and (report.missing or report.stale):
                self._context.index().optimize()
        finally:
            self._busy.release()
        return report_json(report)

    def _raise_if_stopped(self) -> None:
        if self._stop.is_set():
            raise JobInterrupted


def run_worker(
    context: JobContext,
    *,
    poll_s: float = 2.0,
    once: bool = False,
    stop: threading.Event | None = None,
    on_job: Callable[[str, LoadSummary | None], object] | None = None,
    on_reconcile: Callable[[ReconcileReport], object] | None = None,
) -> int:
    """``vitrine worker``: claim queued jobs and run them; how many ran.

    Jobs whose runner fell silent for ``job_stale_s`` are taken over first. ``once``: stop
    when the queue is empty instead of polling every ``poll_s`` seconds. Between jobs, every
    ``reconcile_interval_s`` seconds (0: never), the catalog and the index are reconciled:
    what a crash, a reindex's last instant or a lost write left behind is repaired.
    """
    stop = stop or threading.Event()
    silent_for = timedelta(seconds=context.settings.job_stale_s)
    interval = context.settings.reconcile_interval_s
    reconciled_at: float | None = None
    ran = 0
    while not stop.is_set():
        recover_abandoned(context, silent_for=silent_for)
        with session_scope(context.sessions) as session:
            job = job_queue.claim_job(session=session)
            job_id = job.id if job is not None else None
        if job_id is None:
            due = reconciled_at is None or time.monotonic() - reconciled_at >= interval
            if interval > 0 and due and not once:
                report = reconcile(
                    sessions=context.sessions,
                    index=context.index(),
                    encoders=_encoders(context),
                    settings=context.settings,
                )
                reconciled_at = time.monotonic()
                if on_reconcile is not None:
                    on_reconcile(report)
            if once:
                break
            stop.wait(poll_s)
            continue
        summary = run_job(job_id, context=context, stop=stop)
        ran += 1
        if on_job is not None:
            on_job(job_id, summary)
    return ran
