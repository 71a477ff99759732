"""The admin routes the console is built on: the jobs list with progress, cancel and resume,
reconcile (dry run, then repair), token management, and the index's points browser and
overview, the last two on both index adapters."""

from __future__ import annotations

import csv
import uuid

import pytest

from backend.index.port import point_id
from backend.jobs import QueuedJobs
from tests.api.conftest import (
    AdminActions,
    create_token,
    csv_bytes,
    demo_images,
    demo_rows,
    stop_app,
    zip_bytes,
)
from tests.conftest import DEMO
from tests.http_server import picture_server


def test_jobs_list_newest_first_with_progress(admin):
    rows = demo_rows(3)
    images = zip_bytes(demo_images(r["image"] for r in rows))
    first = admin.upload_and_wait(csv_bytes(rows), images=images)
    second = admin.upload_and_wait(csv_bytes([*rows[:2], {"sku": "", "title": "x"}]), images=images)
    response = admin.client.get("/api/admin/uploads", headers=admin.headers)
    assert response.status_code == 200
    jobs = response.get_json()["jobs"]
    assert [j["job_id"] for j in jobs] == [second["job_id"], first["job_id"]]
    assert jobs[0]["progress"] == {"rows": 3, "total": 3}
    assert (
        jobs[0]["counts"]["failed"] == 1 and jobs[0]["errors"] == []
    )  # rows: in the job's own URL
    assert jobs[1]["progress"] == {"rows": 3, "total": 3}
    assert (
        admin.client.get(jobs[0]["url"], headers=admin.headers).get_json()["errors"][0]["line"] == 4
    )

    one = admin.client.get("/api/admin/uploads?limit=1", headers=admin.headers).get_json()["jobs"]
    assert [j["job_id"] for j in one] == [second["job_id"]]
    bad = admin.client.get("/api/admin/uploads?limit=0&state=x", headers=admin.headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_request"


def test_cancel_a_running_job_keeps_its_rows_and_resume_finishes_it(
    start_app, settings, admin_token
):
    rows = demo_rows(4)
    loopback = settings.with_(url_allow_networks="127.0.0.1/32")
    with picture_server() as server:
        rows[2] = dict(rows[2], image=f"{server.url}/held.png")  # batch 2 waits on this picture
        admin = AdminActions(start_app(loopback, batch_size=2), admin_token)
        images = zip_bytes(demo_images(r["image"] for r in rows[:2] + rows[3:]))
        job_id = admin.upload(csv_bytes(rows), images=images).get_json()["job_id"]
        assert server.held.wait(60)  # batch 1 is stored; batch 2 is being read

        cancelled = admin.client.post(f"/api/admin/uploads/{job_id}/cancel", headers=admin.headers)
        assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
        server.release.set()
        stop_app(admin.app)  # the server stops; the next one must not take the job up again
        job = admin.job(job_id)
        assert job["state"] == "cancelled"
        assert job["message"] == "cancelled by an admin after 2 of 4 rows; resume to go on"
        assert admin.client.get(f"/api/products/{rows[1]['sku']}").status_code == 200
        assert admin.client.get(f"/api/products/{rows[2]['sku']}").status_code == 404
        again = admin.client.post(f"/api/admin/uploads/{job_id}/cancel", headers=admin.headers)
        assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"

        # The next server start keeps a cancelled job's files; resumed, it goes on after row 2.
        restarted = AdminActions(start_app(loopback, batch_size=2), admin_token)
        resumed = restarted.client.post(
            f"/api/admin/uploads/{job_id}/resume", headers=admin.headers
        )
        assert resumed.status_code == 202 and resumed.get_json()["state"] == "queued"
        job = restarted.wait(job_id)
    assert job["state"] == "succeeded", job
    assert job["counts"]["created"] == 4 and job["progress"] == {"rows": 4, "total": 4}
    health = restarted.client.get("/health").get_json()
    assert health["products"] == health["indexed"] == health["points"] == 4
    finished = restarted.client.post(f"/api/admin/uploads/{job_id}/resume", headers=admin.headers)
    assert finished.status_code == 409
    assert "only a cancelled job can be resumed" in finished.get_json()["error"]["message"]


def test_cancel_a_queued_job_then_resume_it(start_app, settings, admin_token):
    app = start_app(settings, jobs=QueuedJobs())  # server mode: no worker takes it meanwhile
    admin = AdminActions(app, admin_token)
    job_id = admin.upload(csv_bytes(demo_rows(2))).get_json()["job_id"]
    assert (
        admin.client.post(f"/api/admin/uploads/{job_id}/cancel", headers=admin.headers).status_code
        == 200
    )
    job = admin.job(job_id)
    assert job["state"] == "cancelled" and job["finished_at"] is not None
    resumed = admin.client.post(f"/api/admin/uploads/{job_id}/resume", headers=admin.headers)
    assert resumed.status_code == 202
    assert admin.job(job_id)["state"] == "queued"
    unknown = admin.client.post(f"/api/admin/uploads/{uuid.uuid4()}/cancel", headers=admin.headers)
    assert unknown.status_code == 404


def test_reconcile_dry_run_shows_then_repair_fixes(admin):
    rows = demo_rows(3)
    done = admin.upload_and_wait(
        csv_bytes(rows), images=zip_bytes(demo_images(r["image"] for r in rows))
    )
    assert done["counts"]["created"] == 3
    reconcile = "/api/admin/reconcile"
    clean = admin.client.post(reconcile, headers=admin.headers).get_json()
    assert clean["clean"] is True and clean["dry_run"] is True and clean["products"] == 3

    gone = rows[1]["sku"]
    admin.app.extensions["vitrine_index"].get().delete(
        [point_id(gone)]
    )  # a point lost behind the catalog's back
    seen = admin.client.post(f"{reconcile}?dry_run=true", headers=admin.headers).get_json()
    assert seen["missing"] == [gone] and seen["clean"] is False
    assert "would repair 1 missing" in seen["summary"]
    assert (
        admin.client.get(f"/api/admin/index/points/{gone}", headers=admin.headers).status_code
        == 404
    )

    repaired = admin.client.post(f"{reconcile}?dry_run=false", headers=admin.headers).get_json()
    assert repaired["missing"] == [gone] and repaired["dry_run"] is False
    assert (
        admin.client.get(f"/api/admin/index/points/{gone}", headers=admin.headers).status_code
        == 200
    )
    assert admin.client.post(reconcile, headers=admin.headers).get_json()["clean"] is True

    bad = admin.client.post(f"{reconcile}?dry_run=maybe", headers=admin.headers)
    assert (
        bad.status_code == 400
        and "dry_run must be true or false" in bad.get_json()["error"]["message"]
    )


def test_reconcile_in_server_mode_points_to_the_worker(start_app, settings, admin_token):
    admin = AdminActions(start_app(settings, jobs=QueuedJobs()), admin_token)
    response = admin.client.post("/api/admin/reconcile", headers=admin.headers)
    assert response.status_code == 409
    assert "vitrine reconcile" in response.get_json()["error"]["message"]


def test_tokens_are_listed_made_once_and_revoked(admin):
    client, headers = admin.client, admin.headers
    listed = client.get("/api/admin/tokens", headers=headers).get_json()["tokens"]
    assert [(t["name"], t["active"], t["current"]) for t in listed] == [("ci", True, True)]
    assert all("token" not in t and "secret" not in t for t in listed)

    made = client.post("/api/admin/tokens", json={"name": "shop-bot"}, headers=headers)
    assert made.status_code == 201
    secret = made.get_json()["token"]
    bot = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/admin/session", headers=bot).get_json() == {"token": "shop-bot"}
    twice = client.post("/api/admin/tokens", json={"name": "shop-bot"}, headers=headers)
    assert twice.status_code == 409 and "exists already" in twice.get_json()["error"]["message"]
    for body in ({}, {"name": 3}, {"name": "x", "admin": True}, {"name": ""}):
        assert client.post("/api/admin/tokens", json=body, headers=headers).status_code == 400

    revoked = client.delete("/api/admin/tokens/shop-bot", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["active"] is False
    assert client.get("/api/admin/session", headers=bot).status_code == 403
    names = {
        t["name"]: t["active"]
        for t in client.get("/api/admin/tokens", headers=headers).get_json()["tokens"]
    }
    assert names == {"ci": True, "shop-bot": False}
    assert client.delete("/api/admin/tokens/nobody", headers=headers).status_code == 404


def shop_headers(app) -> dict[str, str]:
    """A fresh admin token of the app's own database."""
    settings = app.config["VITRINE_SETTINGS"]
    env = {
        "VITRINE_VAR_DIR": str(settings.var_dir),
        "VITRINE_MODEL_CACHE_DIR": str(settings.model_cache_dir),
    }
    if settings.index_backend != "edge":
        env["VITRINE_INDEX_BACKEND"] = settings.index_backend
    return {"Authorization": f"Bearer {create_token(env, f'points-{uuid.uuid4().hex[:8]}')}"}


def demo_skus(**match: str) -> set[str]:
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        return {
            r["sku"] for r in csv.DictReader(handle) if all(r[k] == v for k, v in match.items())
        }


def test_points_browser_pages_through_every_point_once_with_filters(shop):
    client, headers = shop.test_client(), shop_headers(shop)
    seen: list[str] = []
    after = None
    while True:
        query = "limit=100" + (f"&after={after}" if after else "")
        page = client.get(f"/api/admin/index/points?{query}", headers=headers).get_json()
        assert page["count"] == len(demo_skus())
        seen += [p["payload"]["sku"] for p in page["points"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == demo_skus()

    wanted = client.get(f"/api/products/{min(demo_skus())}").get_json()["category"]
    page = client.get(
        "/api/admin/index/points", query_string={"category": wanted, "limit": 100}, headers=headers
    ).get_json()
    assert {p["payload"]["sku"] for p in page["points"]} == demo_skus(category=wanted)
    assert page["count"] == len(demo_skus(category=wanted)) and page["next"] is None

    bad = client.get("/api/admin/index/points?after=nope", headers=headers)
    assert (
        bad.status_code == 400 and "after must be a point id" in bad.get_json()["error"]["message"]
    )


def test_index_overview_counts_points_per_vector(shop):
    client, headers = shop.test_client(), shop_headers(shop)
    body = client.get("/api/admin/index", headers=headers).get_json()
    collection, engine = body["collection"], body["engine"]
    total = collection["points"]
    assert total == len(demo_skus())
    assert collection["vectors"]["text"]["points"] == total
    assert 0 < collection["vectors"]["image"]["points"] <= total
    assert all(v["points"] <= total for v in collection["sparse_vectors"].values())
    assert collection["version"] in engine["versions"]
    assert engine["dashboard"] is None  # no Qdrant server in these runs

    point = client.get(
        f"/api/admin/index/points/{sorted(demo_skus())[0]}", headers=headers
    ).get_json()
    text = point["vectors"]["text"]
    assert text["size"] == collection["vectors"]["text"]["size"] and len(text["head"]) == 6
    assert text["norm"] == pytest.approx(1.0, abs=1e-3)
