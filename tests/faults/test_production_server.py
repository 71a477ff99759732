"""The Dockerfile's server, gunicorn with ``gunicorn.conf.py``, on the embedded default: one
worker holds the index and runs upload jobs, search keeps answering while an upload is being
encoded, a second worker is refused with a message, and a graceful stop keeps the job."""

from __future__ import annotations

import csv
import io
import threading

import pytest

from tests.conftest import DEMO
from tests.faults.processes import Server, multipart, start_gunicorn, vitrine, wait_until
from tests.faults.test_processes import token

pytestmark = pytest.mark.slow


def test_a_second_worker_on_the_embedded_index_is_refused(settings_env, tmp_path):
    log = tmp_path / "gunicorn.log"
    process = start_gunicorn(settings_env, "--workers", "2", "--bind", "127.0.0.1:0", log=log)
    assert process.wait(timeout=60) != 0
    said = log.read_text()
    assert "runs one worker process, not 2" in said and "VITRINE_QDRANT_URL" in said


def demo_rows_without_pictures(count: int, *, skip: int = 0) -> bytes:
    """Demo rows ``skip`` to ``skip + count`` as a CSV file, without their pictures."""
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [dict(row, image="") for row in list(reader)[skip : skip + count]]
        columns = reader.fieldnames or []
    with io.StringIO() as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode("utf-8")


def test_gunicorn_serves_searches_while_an_upload_is_being_encoded(settings_env, tmp_path):
    assert vitrine(settings_env, "migrate").returncode == 0
    shop = tmp_path / "shop.csv"
    shop.write_bytes(demo_rows_without_pictures(30))
    first = vitrine(settings_env, "load", str(shop))
    assert first.returncode == 0, first.stderr
    server = Server(settings_env, tmp_path / "gunicorn.log", gunicorn=True).start()
    try:
        headers = {"Authorization": f"Bearer {token(settings_env)}"}
        upload = demo_rows_without_pictures(150, skip=30)  # new products: all encoded
        body, content_type = multipart({"catalog": ("more.csv", upload)})
        status, job = server.request(
            "POST",
            "/api/admin/uploads",
            body=body,
            headers={**headers, "Content-Type": content_type},
        )
        assert status == 202, job

        answered: list[tuple[int, str]] = []  # (status, the job's state just before)
        done = threading.Event()

        def shopper() -> None:
            while not done.is_set():
                state = server.get(job["url"], headers=headers)[1]["state"]
                status, found = server.get("/api/search?q=running+shoes&limit=5")
                answered.append((status, state))
                assert status == 200, found

        shoppers = [threading.Thread(target=shopper) for _ in range(4)]
        for thread in shoppers:
            thread.start()
        try:
            finished = wait_until(
                lambda: (
                    (j := server.get(job["url"], headers=headers)[1])["state"]
                    not in ("queued", "running")
                    and j
                ),
                timeout=600,
                every=0.5,
            )
        finally:
            done.set()
            for thread in shoppers:
                thread.join(timeout=60)
        assert finished["state"] == "succeeded", finished
        assert finished["counts"]["created"] == 150
        during = [status for status, state in answered if state == "running"]
        assert len(during) >= 10 and set(during) == {200}, answered[:20]
        health = server.get("/health")[1]
        assert health["products"] == health["indexed"] == health["points"] == 30 + 150
    finally:
        assert server.stop() == 0
    said = server.log.read_text()
    assert "embedded index, upload jobs run here" in said


def test_graceful_stop_mid_upload_keeps_the_job_for_the_next_start(settings_env, tmp_path):
    assert vitrine(settings_env, "migrate").returncode == 0
    server = Server(settings_env, tmp_path / "gunicorn.log", gunicorn=True).start()
    headers = {"Authorization": f"Bearer {token(settings_env)}"}
    body, content_type = multipart({"catalog": ("c.csv", demo_rows_without_pictures(200))})
    status, job = server.request(
        "POST", "/api/admin/uploads", body=body, headers={**headers, "Content-Type": content_type}
    )
    assert status == 202
    wait_until(lambda: server.get(job["url"], headers=headers)[1]["counts"]["received"] > 0)
    assert server.stop() == 0  # SIGTERM: gunicorn's graceful stop

    again = Server(settings_env, tmp_path / "again.log", gunicorn=True).start()
    try:
        finished = wait_until(
            lambda: (j := again.get(job["url"], headers=headers)[1])["state"] == "succeeded" and j,
            timeout=600,
            every=0.5,
        )
        assert finished["counts"]["created"] == 200 and finished["attempts"] == 2
    finally:
        again.stop()
