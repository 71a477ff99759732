"""API fixtures: the demo shop on the second index adapter as well; for admin routes, an app
that runs upload jobs on its own thread, a token made with the ``vitrine admin`` command, and
``AdminActions`` that upload and wait like an admin would."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from backend.app import create_app
from backend.catalog.db import migrate
from backend.jobs import get_runner
from backend.settings import Settings
from loaders.cli import main
from loaders.jobs import ThreadJobs
from loaders.pipeline import load_into
from tests.conftest import DEMO

FINAL_STATES = ("succeeded", "failed")


def demo_rows(count: int) -> list[dict[str, str]]:
    """The first ``count`` rows of the demo catalog."""
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        return [row for _, row in zip(range(count), csv.DictReader(handle), strict=False)]


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    """Rows as a CSV file (columns of the first row, then any others)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def zip_bytes(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding ``entries`` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def demo_images(names) -> dict[str, bytes]:
    """Demo pictures as zip entries under ``images/``."""
    return {f"images/{name}": (DEMO / "images" / name).read_bytes() for name in names}


def create_token(settings_env: dict[str, str], name: str) -> str:
    """A token made as an admin makes one: ``vitrine admin create-token NAME``."""
    result = CliRunner().invoke(main, ["admin", "create-token", name], env=settings_env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


class AdminActions:
    """What an admin does over HTTP: upload a catalog, watch its job, inspect, delete."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.client = app.test_client()
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def upload(
        self,
        catalog: bytes,
        *,
        name: str = "catalog.csv",
        images: bytes | None = None,
        images_name: str = "images.zip",
    ):
        data = {"catalog": (io.BytesIO(catalog), name)}
        if images is not None:
            data["images"] = (io.BytesIO(images), images_name)
        return self.client.post(
            "/api/admin/uploads",
            data=data,
            headers=self.headers,
            content_type="multipart/form-data",
        )

    def job(self, job_id: str) -> dict:
        response = self.client.get(f"/api/admin/uploads/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def wait(self, job_id: str, *, timeout: float = 120.0) -> dict:
        """The job once it has ended (succeeded or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] in FINAL_STATES:
                return job
            assert time.monotonic() < deadline, f"job still {job['state']}: {job}"
            time.sleep(0.05)

    def upload_and_wait(self, catalog: bytes, **kwargs) -> dict:
        response = self.upload(catalog, **kwargs)
        assert response.status_code == 202, response.get_json()
        return self.wait(response.get_json()["job_id"])


@pytest.fixture
def start_app(request):
    """Start an app that runs upload jobs on a thread; stopped and closed after the test."""
    started = []

    def start(settings, *, jobs=None, batch_size: int = 64):
        migrate(settings.database_url)
        runner = jobs if jobs is not None else ThreadJobs(batch_size=batch_size)
        app = create_app(settings, jobs=runner)
        started.append(app)
        return app

    yield start
    for app in started:
        stop_app(app)


def stop_app(app) -> None:
    """Stop an app's job runner and release its index (as a server shutting down)."""
    get_runner(app).stop()
    app.extensions["vitrine_index"].close()


@pytest.fixture
def admin_token(settings, settings_env) -> str:
    migrate(settings.database_url)
    return create_token(settings_env, "ci")


@pytest.fixture
def admin(start_app, settings, admin_token) -> AdminActions:
    """An admin with a valid token on a fresh app (embedded mode, jobs on a thread)."""
    return AdminActions(start_app(settings), admin_token)


def uploads_left(settings) -> list[Path]:
    """Files still waiting under the uploads folder."""
    root = settings.uploads_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def png_of_size():
    """A valid PNG header declaring ``width`` x ``height`` pixels, a few bytes long."""
    import struct
    import zlib

    def make(width: int, height: int) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00"))
            + chunk(b"IEND", b"")
        )

    return make


@pytest.fixture(scope="session")
def qdrant_demo_app(tmp_path_factory, model_cache):
    """The demo catalog loaded through qdrant-client (local mode) instead of Qdrant Edge."""
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("demo-qdrant") / "var",
        model_cache_dir=model_cache,
        index_backend="qdrant",
    )
    summary = load_into(settings, DEMO / "catalog.csv", DEMO / "images")
    assert summary.failed == 0, summary.errors
    app = create_app(settings)
    yield app
    app.extensions["vitrine_index"].close()


@pytest.fixture(params=["edge", "qdrant"])
def shop(request, demo_app):
    """The demo shop's app on each index adapter (Qdrant Edge, qdrant-client local mode)."""
    if request.param == "edge":
        return demo_app
    return request.getfixturevalue("qdrant_demo_app")
