"""The jobs queue on SQLite and PostgreSQL: one claim per job, abandoned jobs found by their
heartbeat, recovered (requeued) or finished as failed with what they had done."""

from __future__ import annotations

from datetime import timedelta

from backend.catalog import jobs
from backend.catalog.models import utcnow


def new_job(session, job_id: str, source: str = "c.csv"):
    return jobs.create_upload_job(
        session=session,
        job_id=job_id,
        source=source,
        catalog_file=f"/uploads/{job_id}/catalog.csv",
        images_file=None,
    )


def test_jobs_are_claimed_once_oldest_first(session):
    new_job(session, "job-a")
    new_job(session, "job-b")
    session.commit()
    first = jobs.claim_job(session=session)
    assert (first.id, first.state, first.attempts) == ("job-a", "running", 1)
    assert jobs.claim_job(session=session, job_id="job-a") is None  # already running
    assert jobs.claim_job(session=session).id == "job-b"
    assert jobs.claim_job(session=session) is None
    assert jobs.queued_job_ids(session=session) == []


def test_silent_running_jobs_are_abandoned_and_requeued(session):
    for job_id in ("quiet", "busy"):
        new_job(session, job_id)
        jobs.claim_job(session=session, job_id=job_id)
    quiet = session.get(jobs.LoadJob, "quiet")
    quiet.heartbeat_at = utcnow() - timedelta(hours=1)
    jobs.save_checkpoint(
        session=session,
        job=session.get(jobs.LoadJob, "busy"),
        checkpoint=10,
        counts={"received": 10, "created": 9, "failed": 1},
        errors=[{"line": 3, "sku": "X", "reason": "bad"}],
    )
    session.commit()

    found = jobs.abandoned_jobs(session=session, silent_since=utcnow() - timedelta(minutes=5))
    assert [j.id for j in found] == ["quiet"]
    assert {j.id for j in jobs.abandoned_jobs(session=session)} == {"quiet", "busy"}

    assert jobs.recover_job(session=session, job=quiet, files_present=True) == "requeued"
    assert quiet.state == "queued" and "resumed after an interruption" in quiet.message
    busy = session.get(jobs.LoadJob, "busy")
    assert jobs.recover_job(session=session, job=busy, files_present=False) == "failed"
    assert busy.state == "failed" and busy.finished_at is not None
    assert "10 rows handled before the interruption: 9 created" in busy.message
    assert busy.errors == [{"line": 3, "sku": "X", "reason": "bad"}]
