"""Fault injection with real processes: ``vitrine serve`` and ``vitrine load`` killed with
SIGKILL mid-way, the index folder deleted or garbled under a running server, the disk filled
under a load. After the restart no product is half-written, every row is accounted for, and
search is either right or answers 503. See docs/faults.md for the whole list."""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import time
import zipfile

import pytest

from tests.catalogs import good_rows, images_zip, write_csv
from tests.conftest import DEMO
from tests.faults.processes import (
    Server,
    catalog_counts,
    kill_hard,
    multipart,
    start_vitrine,
    vitrine,
    wait_until,
)

pytestmark = pytest.mark.slow

DEMO_ROWS = 411


@pytest.fixture(scope="module")
def demo_zip(tmp_path_factory):
    """The demo catalog's pictures as the zip an admin uploads."""
    path = tmp_path_factory.mktemp("upload") / "images.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for picture in sorted((DEMO / "images").iterdir()):
            archive.write(picture, f"images/{picture.name}")
    return path


@pytest.fixture(scope="module")
def demo_titles():
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        return {row["sku"]: row["title"] for row in csv.DictReader(handle)}


@pytest.fixture
def deployment(settings, settings_env, tmp_path):
    """A migrated var folder, its environment and a server (started by the test)."""
    result = vitrine(settings_env, "migrate")
    assert result.returncode == 0, result.stderr
    server = Server(settings_env, tmp_path / "serve.log")
    yield settings, settings_env, server
    server.stop()


def token(env) -> str:
    result = vitrine(env, "admin", "create-token", f"ci-{time.monotonic_ns()}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[0]


def db_path(settings):
    return settings.var_dir / "vitrine.db"


def assert_consistent(server: Server, *, products: int, titles: dict[str, str]) -> None:
    """Health agrees with the catalog, every product is whole, and search finds them."""
    status, health = server.get("/health")
    assert status == 200, health
    assert (health["status"], health["problems"]) == ("ok", []), health
    assert health["products"] == health["indexed"] == health["points"] == products, health
    listed = []
    for offset in range(0, products, 100):
        _, page = server.get(f"/api/products?limit=100&offset={offset}")
        listed += page["products"]
    assert len(listed) == products
    assert all(p["images"] for p in listed), "a product was stored without its picture"
    assert all(p["title"] == titles[p["sku"]] for p in listed)
    sku, title = next((p["sku"], p["title"]) for p in listed)
    _, found = server.get(f"/api/search?mode=text&limit=5&q={title.replace(' ', '+')}")
    assert sku in [hit["sku"] for hit in found["results"]]


def test_server_killed_mid_job_resumes_it_and_loses_nothing(deployment, demo_zip, demo_titles):
    settings, env, server = deployment
    headers = {"Authorization": f"Bearer {token(env)}"}
    body, content_type = multipart(
        {
            "catalog": ("catalog.csv", (DEMO / "catalog.csv").read_bytes()),
            "images": ("images.zip", demo_zip.read_bytes()),
        }
    )
    server.start()
    status, started = server.request(
        "POST",
        "/api/admin/uploads",
        body=body,
        headers={**headers, "Content-Type": content_type},
    )
    assert status == 202, started
    job_url = f"/api/admin/uploads/{started['job_id']}"

    def mid_way():
        job = server.get(job_url, headers=headers)[1]
        return job["state"] == "running" and 0 < job["counts"]["received"] < DEMO_ROWS and job

    wait_until(mid_way)
    server.kill()
    stored = catalog_counts(db_path(settings))
    assert 0 < stored["products"] < DEMO_ROWS

    server.start()
    job = wait_until(lambda: (j := server.get(job_url, headers=headers)[1])["finished_at"] and j)
    assert (job["state"], job["attempts"]) == ("succeeded", 2), job
    assert job["counts"] == {
        "received": DEMO_ROWS,
        "created": DEMO_ROWS,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }
    assert_consistent(server, products=DEMO_ROWS, titles=demo_titles)
    assert not any(settings.uploads_dir.iterdir())  # the finished job's files are gone


def test_server_killed_mid_upload_request_leaves_no_job_and_no_files(deployment, demo_zip):
    settings, env, server = deployment
    headers = f"Authorization: Bearer {token(env)}\r\n"
    body, content_type = multipart(
        {"catalog": ("catalog.csv", (DEMO / "catalog.csv").read_bytes())}
    )
    server.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(
            (
                f"POST /api/admin/uploads HTTP/1.1\r\nHost: x\r\n{headers}"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[: len(body) // 2]
        )
        time.sleep(0.5)
        server.kill()
    # A server killed while saving an upload leaves its folder without a job:
    orphan = settings.uploads_dir / "0f0f0f0f-dead-4000-8000-000000000000"
    orphan.mkdir(parents=True)
    (orphan / "catalog.csv").write_bytes(body[:1000])

    server.start()
    wait_until(lambda: not orphan.exists(), timeout=60)
    assert catalog_counts(db_path(settings)) == {
        "products": 0,
        "indexed": 0,
        "jobs": 0,
        "images": 0,
    }
    status, health = server.get("/health")
    assert (status, health["status"], health["products"]) == (200, "ok", 0)


def test_load_killed_mid_way_is_repaired_by_the_server_then_completed(deployment, demo_titles):
    settings, env, server = deployment
    load = start_vitrine(
        env,
        "load",
        str(DEMO / "catalog.csv"),
        "--images",
        str(DEMO / "images"),
        "--no-progress",
        log=settings.var_dir / "load.log",
    )
    wait_until(lambda: catalog_counts(db_path(settings))["products"] >= 64 or load.poll())
    kill_hard(load)
    stored = catalog_counts(db_path(settings))
    assert 0 < stored["products"] < DEMO_ROWS, stored

    server.start()  # embedded: it indexes what the killed load stored without vectors
    wait_until(lambda: (h := server.get("/health")[1])["indexed"] == h["products"])
    titles = {sku: demo_titles[sku] for sku in demo_titles}
    _, health = server.get("/health")
    assert health["products"] == stored["products"]
    listed = server.get("/api/products?limit=100")[1]["products"]
    assert all(p["images"] for p in listed)
    status, _ = server.get("/api/search?q=umbrella")
    assert status == 200
    server.stop()

    result = vitrine(env, "load", str(DEMO / "catalog.csv"), "--images", str(DEMO / "images"))
    assert result.returncode == 0, result.stderr
    assert f"{DEMO_ROWS} rows: {DEMO_ROWS - stored['products']} created" in result.stdout
    server.start()
    assert_consistent(server, products=DEMO_ROWS, titles=titles)


def test_index_deleted_then_garbled_under_a_running_server(deployment, tmp_path):
    settings, env, server = deployment
    rows = good_rows()
    titles = {r["sku"]: r["title"] for r in rows}
    catalog = write_csv(tmp_path / "catalog.csv", rows)
    result = vitrine(env, "load", str(catalog), "--images", str(images_zip(tmp_path / "i.zip")))
    assert result.returncode == 0, result.stderr
    server.start()
    assert_consistent(server, products=3, titles=titles)

    shutil.rmtree(settings.qdrant_path)
    wait_until(lambda: server.get("/api/search?q=shirt")[0] == 503)
    status, health = server.get("/health")
    assert (status, health["index_error_code"]) == (503, "index_missing")
    result = vitrine(env, "index", "repair", "--no-progress")  # while the server runs
    assert result.returncode == 0, result.stderr
    wait_until(lambda: server.get("/api/search?q=shirt")[0] == 200)
    assert_consistent(server, products=3, titles=titles)

    server.stop()
    segment = next((settings.qdrant_path / "v1" / "segments").iterdir())
    (segment / "segment.json").write_bytes(b"\x00garbled")
    server.start()  # starts anyway, and says why search cannot answer
    status, error = server.get("/api/search?q=shirt")
    assert (status, error["error"]["code"]) == (503, "index_corrupt")
    result = vitrine(env, "index", "repair", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "moved the unreadable folder aside" in result.stdout
    wait_until(lambda: server.get("/api/search?q=shirt")[0] == 200)
    assert_consistent(server, products=3, titles=titles)


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 40 MiB for the var folder (root only; skipped where mounting is refused)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def grow(mount, size: str) -> None:
    """Resize the tmpfs (to free space, as an admin deleting files would)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)


@pytest.mark.parametrize("guard", [True, False], ids=["free-space guard", "no guard: SIGBUS"])
def test_disk_filling_under_a_load_loses_nothing_once_space_is_freed(
    guard, small_disk, settings, demo_titles, tmp_path
):
    if not guard:
        grow(small_disk, "24m")  # full before the first batch's vectors are all written
    var = small_disk / "var"
    env = {
        "VITRINE_VAR_DIR": str(var),
        "VITRINE_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "VITRINE_MIN_FREE_BYTES": str(20 * 2**20 if guard else 0),
    }
    assert vitrine(env, "migrate").returncode == 0
    args = ("load", str(DEMO / "catalog.csv"), "--images", str(DEMO / "images"), "--no-progress")
    result = vitrine(env, *args)
    if guard:  # a clear error between two batches
        assert result.returncode == 3, result.stderr
        assert "the load stopped" in result.stderr and "MiB free" in result.stderr
    else:  # Qdrant Edge's memory maps meet the full disk: the kernel kills the load
        assert result.returncode != 0, result.stdout
    grow(small_disk, "400m")
    stored = catalog_counts(var / "vitrine.db")
    assert 0 < stored["products"] < DEMO_ROWS, stored

    result = vitrine(env, *args)  # the same load again, with room
    assert result.returncode == 0, result.stderr
    assert f"{DEMO_ROWS - stored['products']} created" in result.stdout
    server = Server(env, tmp_path / "serve.log").start()
    try:
        assert_consistent(server, products=DEMO_ROWS, titles=demo_titles)
    finally:
        server.stop()
