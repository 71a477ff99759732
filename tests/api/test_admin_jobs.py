"""Upload jobs survive their runner: stopped mid-way, a job resumes at the next start after
its last stored batch, and ends with every product once in the catalog and in the index;
a job that cannot be resumed is reported failed with what it had done; in server mode a
separate ``vitrine worker`` process claims queued jobs, one runner per job."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
from click.testing import CliRunner

from backend.catalog import db
from backend.catalog import jobs as job_queue
from backend.catalog import service as catalog
from backend.catalog.db import migrate
from backend.catalog.schema import ProductData
from backend.encoders.registry import (
    dictionary_from_settings,
    encoders_from_settings,
    multilingual_from_settings,
)
from backend.index.factory import open_index
from backend.index.port import point_id
from backend.indexing import product_multilingual_vectors, product_text_vectors
from backend.jobs import QueuedJobs, get_runner
from backend.settings import Settings
from loaders.cli import main
from tests.api.conftest import (
    AdminActions,
    csv_bytes,
    demo_images,
    demo_rows,
    stop_app,
    uploads_left,
    zip_bytes,
)
from tests.http_server import picture_server


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def sessions_of(settings):
    engine = db.make_engine(settings.database_url)
    return engine, db.make_sessionmaker(engine)


def test_job_stopped_mid_way_resumes_after_restart_without_half_written_products(
    start_app, settings, admin_token
):
    rows = demo_rows(4)
    loopback = settings.with_(url_allow_networks="127.0.0.1/32")
    with picture_server() as server:
        # Row 3's picture comes from a server that waits until the test lets it answer.
        rows[2] = dict(rows[2], image=f"{server.url}/held.png")
        upload = csv_bytes(rows), zip_bytes(demo_images(r["image"] for r in rows[:2] + rows[3:]))

        app = start_app(loopback, batch_size=2)
        admin = AdminActions(app, admin_token)
        job_id = admin.upload(upload[0], images=upload[1]).get_json()["job_id"]
        assert server.held.wait(60)  # batch 1 (rows 1-2) is stored; batch 2 is being read
        get_runner(app).stop(timeout=0)  # the server shuts down now...
        server.release.set()
        get_runner(app).stop()  # ...and its job thread stops after the batch in hand

        job = admin.job(job_id)
        assert job["state"] == "running" and job["attempts"] == 1
        assert job["counts"]["received"] == 2 and job["counts"]["created"] == 2
        assert admin.client.get(f"/api/products/{rows[2]['sku']}").status_code == 404
        health = admin.client.get("/health").get_json()
        assert health["products"] == health["indexed"] == health["points"] == 2
        stop_app(app)
        assert uploads_left(settings)  # kept for the resumed job

        restarted = AdminActions(start_app(loopback, batch_size=2), admin_token)
        job = restarted.wait(job_id)

    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2
    assert job["counts"] == {
        "received": 4,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }
    client = restarted.client
    health = client.get("/health").get_json()
    assert health["products"] == health["indexed"] == health["points"] == 4
    for row in rows:
        point = client.get(f"/api/admin/index/points/{row['sku']}", headers=restarted.headers)
        assert point.get_json()["catalog"]["current"] is True
    assert uploads_left(settings) == []


def test_job_whose_runner_died_and_files_are_gone_is_reported_with_what_was_done(
    start_app, settings, admin_token
):
    # Server mode: the app only queues; a worker claimed the job and then died.
    app = start_app(settings, jobs=QueuedJobs())
    admin = AdminActions(app, admin_token)
    rows = demo_rows(2)
    job_id = admin.upload(csv_bytes(rows)).get_json()["job_id"]
    stop_app(app)
    engine, sessions = sessions_of(settings)
    try:
        with db.session_scope(sessions) as session:
            assert job_queue.claim_job(session=session, job_id=job_id) is not None
            assert job_queue.claim_job(session=session, job_id=job_id) is None  # taken once
        for path in uploads_left(settings):
            path.unlink()
    finally:
        engine.dispose()

    restarted = AdminActions(start_app(settings), admin_token)
    job = restarted.wait(job_id)
    assert job["state"] == "failed"
    assert "interrupted and not resumed (its uploaded files are gone)" in job["message"]
    assert "0 rows handled before the interruption: 0 created" in job["message"]


def test_job_interrupted_too_often_is_reported_failed(start_app, settings, admin_token):
    app = start_app(settings, jobs=QueuedJobs())
    job_id = AdminActions(app, admin_token).upload(csv_bytes(demo_rows(1))).get_json()["job_id"]
    stop_app(app)
    engine, sessions = sessions_of(settings)
    try:
        for _ in range(job_queue.MAX_ATTEMPTS - 1):  # claimed, the runner dies, requeued
            with db.session_scope(sessions) as session:
                job_queue.claim_job(session=session, job_id=job_id)
                job = catalog.get_job(session=session, job_id=job_id)
                assert job_queue.recover_job(session=session, job=job, files_present=True) == (
                    "requeued"
                )
        with db.session_scope(sessions) as session:
            assert job_queue.claim_job(session=session, job_id=job_id).attempts == 3
    finally:
        engine.dispose()
    job = AdminActions(start_app(settings), admin_token).wait(job_id)
    assert job["state"] == "failed" and "interrupted 3 times" in job["message"]
    assert uploads_left(settings) == []


def test_worker_process_runs_queued_jobs(start_app, settings, settings_env, admin_token):
    app = start_app(settings, jobs=QueuedJobs())
    admin = AdminActions(app, admin_token)
    rows = demo_rows(3)
    images = zip_bytes(demo_images(r["image"] for r in rows))
    first = admin.upload(csv_bytes(rows[:2]), images=images).get_json()["job_id"]
    second = admin.upload(csv_bytes(rows), images=images).get_json()["job_id"]
    time.sleep(0.2)
    assert admin.job(first)["state"] == admin.job(second)["state"] == "queued"
    stop_app(app)  # embedded index: the worker needs the folder the app held

    result = CliRunner().invoke(main, ["worker", "--once"], env=settings_env)
    assert result.exit_code == 0, result.output
    assert f"job {first}: 2 rows: 2 created" in result.output
    assert f"job {second}: 3 rows: 1 created, 0 updated, 2 unchanged" in result.output
    assert "2 jobs run" in result.output

    restarted = AdminActions(start_app(settings), admin_token)
    assert restarted.job(second)["state"] == "succeeded"
    health = restarted.client.get("/health").get_json()
    assert health["products"] == health["indexed"] == health["points"] == 3

    # The worker's vectors follow the recipe the collection records (with definitions, and
    # the multilingual vector).
    sku = rows[0]["sku"]
    [stored] = (
        restarted.app.extensions["vitrine_index"]
        .get()
        .retrieve([point_id(sku)], vectors=["text", "multilingual"])
    )
    with db.session_scope(db.get_catalog(restarted.app).sessionmaker) as session:
        product = catalog.get_products(session=session, skus=[sku])[sku]
        text, _ = encoders_from_settings(settings)
        expected = product_text_vectors([product], text, dictionary_from_settings(settings))
        without = product_text_vectors([product], text, None)
        multilingual = multilingual_from_settings(settings)
        assert multilingual is not None
        expected_multilingual = product_multilingual_vectors([product], multilingual)
    assert np.allclose(stored.vectors["text"], expected[0], atol=1e-5)
    assert not np.allclose(stored.vectors["text"], without[0], atol=1e-3)
    assert np.allclose(stored.vectors["multilingual"], expected_multilingual[0], atol=1e-5)


def test_embedded_mode_runs_jobs_in_the_serving_process(settings):
    assert settings.runs_jobs_in_process  # the Edge folder opens in one process only
    assert not settings.with_(qdrant_url="http://qdrant:6333").runs_jobs_in_process
    assert Settings.from_env(
        {"VITRINE_QDRANT_URL": "http://q:6333", "VITRINE_JOB_RUNNER": "thread"}
    ).runs_jobs_in_process


def test_a_server_without_the_index_does_not_take_over_jobs(start_app, settings, admin_token):
    app = start_app(settings, jobs=QueuedJobs())
    rows = demo_rows(1)
    upload = AdminActions(app, admin_token).upload(
        csv_bytes(rows), images=zip_bytes(demo_images([rows[0]["image"]]))
    )
    job_id = upload.get_json()["job_id"]
    stop_app(app)
    engine, sessions = sessions_of(settings)
    try:
        with db.session_scope(sessions) as session:
            job_queue.claim_job(session=session, job_id=job_id)  # another server's job
    finally:
        engine.dispose()

    holder = open_index(settings)  # that server still holds the index folder
    try:
        second = AdminActions(start_app(settings), admin_token)
        time.sleep(1.0)
        job = second.job(job_id)
        assert (job["state"], job["attempts"]) == ("running", 1)  # left alone
    finally:
        holder.close()
    job = second.wait(job_id)  # once the folder is free, the job is taken over and done
    assert (job["state"], job["attempts"], job["counts"]["created"]) == ("succeeded", 2, 1)


def store_without_vectors(settings, titles: dict[str, str]) -> None:
    """Rows a load stored before it died, without writing their vectors."""
    migrate(settings.database_url)
    engine, sessions = sessions_of(settings)
    try:
        with db.session_scope(sessions) as session:
            items = [ProductData(sku=s, title=t, currency="USD") for s, t in titles.items()]
            catalog.upsert_products(session=session, items=items)
    finally:
        engine.dispose()


def indexed_all(client) -> dict | None:
    health = client.get("/health").get_json()
    return health if health["indexed"] == health["products"] else None


def test_products_a_crashed_load_left_unindexed_are_reported_then_indexed_at_the_next_start(
    start_app, settings, admin_token
):
    store_without_vectors(settings, {"OLD-1": "Rain boots", "OLD-2": "Wool scarf"})
    # Server mode, no worker yet: search answers, and health says what it cannot find.
    app = start_app(settings, jobs=QueuedJobs())
    health = app.test_client().get("/health")
    assert health.status_code == 200
    body = health.get_json()
    assert (body["status"], body["products"], body["indexed"], body["pending"]) == (
        "degraded",
        2,
        0,
        2,
    )
    assert "2 of 2 products have no current vectors" in body["problems"][0]
    stop_app(app)

    admin = AdminActions(start_app(settings), admin_token)  # embedded: it repairs at start
    health = wait_for(lambda: indexed_all(admin.client))
    assert (health["status"], health["points"], health["problems"]) == ("ok", 2, [])
    found = admin.client.get("/api/search?q=scarf&mode=text&limit=1").get_json()["results"]
    assert found[0]["sku"] == "OLD-2"


def test_job_failed_after_interruptions_leaves_no_product_unsearchable(
    start_app, settings, admin_token
):
    app = start_app(settings, jobs=QueuedJobs())
    rows = demo_rows(3)
    job_id = AdminActions(app, admin_token).upload(csv_bytes(rows)).get_json()["job_id"]
    stop_app(app)
    engine, sessions = sessions_of(settings)
    try:  # each runner stored a batch and died before its vectors; the third time it fails
        for _ in range(job_queue.MAX_ATTEMPTS):
            with db.session_scope(sessions) as session:
                job = job_queue.claim_job(session=session, job_id=job_id)
                if job.attempts < job_queue.MAX_ATTEMPTS:
                    job_queue.recover_job(session=session, job=job, files_present=True)
    finally:
        engine.dispose()
    store_without_vectors(settings, {row["sku"]: row["title"] for row in rows[:2]})

    admin = AdminActions(start_app(settings), admin_token)
    job = admin.wait(job_id)
    assert job["state"] == "failed" and "interrupted 3 times" in job["message"]
    wait_for(lambda: indexed_all(admin.client))
    for row in rows[:2]:
        found = admin.client.get(
            "/api/search", query_string={"q": row["title"], "mode": "text", "limit": 1}
        ).get_json()["results"]
        assert found[0]["sku"] == row["sku"]

    def noted() -> str | None:  # the repair's note on the job's report
        message = admin.job(job_id)["message"]
        return message if "afterwards the server indexed" in message else None

    assert "(2 left without vectors in all), so search finds them" in wait_for(noted)
    assert admin.client.get("/health").get_json()["status"] == "ok"


def _new_children(before: set[int]) -> set[int]:
    return {p.pid for p in multiprocessing.active_children()} - before


def test_uploads_are_encoded_in_a_child_process_that_exits_when_idle(
    start_app, settings, admin_token
):
    before = {p.pid for p in multiprocessing.active_children()}
    quick = settings.with_(job_encoder_idle_s=1.0)
    admin = AdminActions(start_app(quick), admin_token)
    rows = demo_rows(3)
    job = admin.upload_and_wait(
        csv_bytes(rows), images=zip_bytes(demo_images(r["image"] for r in rows))
    )
    assert job["state"] == "succeeded" and "3 indexed" in job["message"], job
    found = admin.client.get("/api/search?q=umbrella&limit=1").get_json()["results"]
    assert found[0]["sku"] == rows[0]["sku"]
    assert _new_children(before)  # the encoding process, still there just after the job
    wait_for(lambda: not _new_children(before), timeout=30)  # gone once idle


def test_a_killed_encoding_process_is_replaced_and_the_next_upload_lands(
    start_app, settings, admin_token
):
    before = {p.pid for p in multiprocessing.active_children()}
    admin = AdminActions(start_app(settings.with_(job_encoder_idle_s=120.0)), admin_token)
    first, second = demo_rows(2)
    admin.upload_and_wait(csv_bytes([first]), images=zip_bytes(demo_images([first["image"]])))
    for pid in _new_children(before):
        os.kill(pid, signal.SIGKILL)
    job = admin.upload_and_wait(
        csv_bytes([second]), images=zip_bytes(demo_images([second["image"]]))
    )
    assert job["state"] == "succeeded" and "1 indexed" in job["message"], job
    health = admin.client.get("/health").get_json()
    assert health["products"] == health["indexed"] == health["points"] == 2
