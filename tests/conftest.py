"""Shared fixtures: settings in a temporary folder, a loaded demo catalog and its app, PostgreSQL.

Tests read as a user's actions: load this catalog, search for that, expect this product first.
The models are real; the exported ONNX image model is cached once per test run.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from backend.app import create_app
from backend.settings import Settings
from loaders.pipeline import load_into
from tests.postgres import PostgresUnavailable, start_server

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """Exported ONNX models, shared by every test of the run."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def settings(tmp_path, model_cache) -> Settings:
    """Embedded defaults (SQLite file, Qdrant Edge shard) in a fresh folder; uploads do not
    retrain the fusion head (tests/api/test_head_refresh.py turns that on)."""
    return Settings(var_dir=tmp_path / "var", model_cache_dir=model_cache, head_refresh="off")


@pytest.fixture
def settings_env(settings) -> dict[str, str]:
    """The same settings as environment variables, for the command line."""
    return {
        "VITRINE_VAR_DIR": str(settings.var_dir),
        "VITRINE_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "VITRINE_HEAD_REFRESH": settings.head_refresh,
    }


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory, model_cache) -> Settings:
    """Settings of a folder where the demo catalog has been loaded once for the run."""
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("demo") / "var",
        model_cache_dir=model_cache,
        head_refresh="off",
    )
    summary = load_into(settings, DEMO / "catalog.csv", DEMO / "images")
    assert summary.failed == 0, summary.errors
    return settings


@pytest.fixture(scope="session")
def demo_app(demo_settings):
    """The app over the loaded demo catalog (read-only tests share it)."""
    app = create_app(demo_settings)
    yield app
    app.extensions["vitrine_index"].close()


@pytest.fixture
def client(demo_app):
    """An HTTP client of the demo app."""
    return demo_app.test_client()


@pytest.fixture(scope="session")
def catalog_rows() -> dict[str, dict[str, str]]:
    """The demo catalog's rows by sku, as the CSV has them."""
    with (DEMO / "catalog.csv").open(newline="", encoding="utf-8") as handle:
        return {row["sku"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the whole test run (skips if there is none)."""
    try:
        server = start_server()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL for tests: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """URL of a fresh, empty PostgreSQL database for this test, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])
