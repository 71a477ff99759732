"""The queue of upload jobs in the catalog database: claimed atomically, checkpointed per
batch, and recovered after a crash (resumed, or reported failed with what was done).

``service.py`` creates, reads and finishes jobs; this module is what runners need on top.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.catalog.models import LoadJob, utcnow
from backend.errors import Conflict

# A job interrupted this many times is reported failed instead of being started again.
MAX_ATTEMPTS = 3

Recovery = Literal["requeued", "failed"]


def claim_job(*, session: Session, job_id: str | None = None) -> LoadJob | None:
    """Mark one queued job (``job_id``, or the oldest) running and return it; None if there
    is none. Two runners racing for a job: the conditional UPDATE lets exactly one win."""
    if job_id is None:
        job_id = session.scalars(
            sa.select(LoadJob.id)
            .where(LoadJob.state == "queued")
            .order_by(LoadJob.created_at, LoadJob.id)
            .limit(1)
        ).first()
        if job_id is None:
            return None
    now = utcnow()
    result = session.execute(
        sa.update(LoadJob)
        .where(LoadJob.id == job_id, LoadJob.state == "queued")
        .values(
            state="running",
            attempts=LoadJob.attempts + 1,
            started_at=sa.func.coalesce(LoadJob.started_at, now),
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    job = session.get(LoadJob, job_id, populate_existing=True)
    return job


def queued_job_ids(*, session: Session) -> list[str]:
    """Ids of the jobs waiting to run, oldest first."""
    stmt = sa.select(LoadJob.id).where(LoadJob.state == "queued").order_by(LoadJob.created_at)
    return list(session.scalars(stmt))


_ACTIVE = ("queued", "running")


def count_active_jobs(*, session: Session) -> int:
    """Jobs queued or running: while there are any, pending products are expected."""
    stmt = sa.select(sa.func.count()).where(LoadJob.state.in_(_ACTIVE))
    return session.execute(stmt).scalar_one()


def job_ids_keeping_files(*, session: Session) -> set[str]:
    """Jobs whose uploaded files must stay: those that run or wait, and cancelled ones
    (they can be resumed)."""
    states = (*_ACTIVE, "cancelled")
    return set(session.scalars(sa.select(LoadJob.id).where(LoadJob.state.in_(states))))


def note_repair(*, session: Session, job_ids: list[str], repaired: int) -> None:
    """Add to failed jobs' messages that the products they had stored (among the
    ``repaired`` left without vectors) were indexed after, so search finds them."""
    for job in session.scalars(sa.select(LoadJob).where(LoadJob.id.in_(job_ids))):
        job.message = (
            f"{job.message or 'failed'}; afterwards the server indexed the products it had "
            f"stored ({repaired} left without vectors in all), so search finds them"
        )
    session.flush()


def abandoned_jobs(*, session: Session, silent_since: datetime | None = None) -> list[LoadJob]:
    """Jobs marked running whose runner is gone: all of them (``silent_since=None``: in
    embedded mode only the serving process runs jobs, so at its start none can be alive),
    or those without a heartbeat since ``silent_since``."""
    stmt = sa.select(LoadJob).where(LoadJob.state == "running").order_by(LoadJob.created_at)
    if silent_since is not None:
        stmt = stmt.where(
            sa.or_(LoadJob.heartbeat_at.is_(None), LoadJob.heartbeat_at < silent_since)
        )
    return list(session.scalars(stmt))


def done_so_far(job: LoadJob) -> str:
    """What an interrupted job had done, in words."""
    return (
        f"{job.checkpoint} rows handled before the interruption: {job.created} created, "
        f"{job.updated} updated, {job.unchanged} unchanged, {job.failed} failed"
    )


def recover_job(*, session: Session, job: LoadJob, files_present: bool) -> Recovery:
    """Queue an abandoned job again to resume after its checkpoint, or, when its files are
    gone or it was interrupted too often, finish it as failed saying what it had done."""
    reason = None
    if not files_present:
        reason = "its uploaded files are gone"
    elif job.attempts >= MAX_ATTEMPTS:
        reason = f"it was interrupted {job.attempts} times"
    if reason is None:
        job.state = "queued"
        job.message = f"resumed after an interruption; {done_so_far(job)}"
        session.flush()
        return "requeued"
    job.state = "failed"
    job.message = f"interrupted and not resumed ({reason}); {done_so_far(job)}"
    job.finished_at = utcnow()
    session.flush()
    return "failed"


def save_checkpoint(
    *,
    session: Session,
    job: LoadJob,
    checkpoint: int,
    counts: dict[str, int],
    errors: list[dict[str, object]],
) -> None:
    """Record the rows handled so far with their counts and errors, and beat the heart."""
    job.checkpoint = checkpoint
    for name, value in counts.items():
        setattr(job, name, value)
    job.errors = list(errors)
    job.heartbeat_at = utcnow()
    session.flush()


def create_upload_job(
    *,
    session: Session,
    job_id: str,
    source: str,
    catalog_file: str,
    images_file: str | None,
) -> LoadJob:
    """A queued job for an upload whose files are saved at ``catalog_file``/``images_file``."""
    job = LoadJob(
        id=job_id,
        source=source[:1024],
        state="queued",
        errors=[],
        catalog_file=catalog_file,
        images_file=images_file,
    )
    session.add(job)
    session.flush()
    return job


def recent_jobs(*, session: Session, limit: int = 50) -> list[LoadJob]:
    """The newest jobs first."""
    stmt = sa.select(LoadJob).order_by(LoadJob.created_at.desc(), LoadJob.id).limit(limit)
    return list(session.scalars(stmt))


def cancel_job(*, session: Session, job: LoadJob) -> LoadJob:
    """Cancel a queued or running job. A running one stops before its next batch: the rows
    stored so far stay (and are indexed); its files are kept so that it can be resumed."""
    message = _cancelled_message(job)
    result = session.execute(
        sa.update(LoadJob)
        .where(LoadJob.id == job.id, LoadJob.state.in_(_ACTIVE))
        .values(state="cancelled", finished_at=utcnow(), message=message)
        .execution_options(synchronize_session=False)
    )
    session.refresh(job)
    if getattr(result, "rowcount", 0) != 1:
        raise Conflict(
            f"job {job.id} is {job.state}: only a queued or running job can be cancelled"
        )
    return job


def files_present(job: LoadJob) -> bool:
    """Whether the job's uploaded files are still there to be read."""
    files = [job.catalog_file, job.images_file]
    return job.catalog_file is not None and all(Path(f).is_file() for f in files if f)


def resume_job(*, session: Session, job: LoadJob) -> LoadJob:
    """Queue a cancelled job again; it goes on after the rows it had handled."""
    if job.state != "cancelled":
        raise Conflict(f"job {job.id} is {job.state}: only a cancelled job can be resumed")
    if not files_present(job):
        raise Conflict(f"job {job.id} cannot be resumed: its uploaded files are gone")
    job.state = "queued"
    job.finished_at = None
    job.attempts = 0  # a cancel is not a crash
    job.message = f"resumed by an admin after {job.checkpoint} rows"
    session.flush()
    return job


def note_cancelled(*, session: Session, job_id: str) -> None:
    """The runner saw the cancel: say how far the job got (a batch being stored when the
    cancel came is in)."""
    job = session.get(LoadJob, job_id, populate_existing=True)
    if job is None or job.state != "cancelled":
        return
    job.message = _cancelled_message(job)
    session.flush()


def _cancelled_message(job: LoadJob) -> str:
    of = f" of {job.total}" if job.total is not None else ""
    return f"cancelled by an admin after {job.checkpoint}{of} rows; resume to go on"
