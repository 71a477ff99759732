"""`vitrine reindex`: a collection built for other models is rebuilt from the catalog, beside
the serving version, while shoppers keep searching."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from qdrant_client import QdrantClient

from backend.app import create_app
from backend.errors import IndexConfigMismatch
from loaders.cli import main
from loaders.pipeline import load_into
from loaders.reindex import rebuild
from tests.catalogs import good_rows, images_zip, write_csv
from tests.loaders.breakage import store_only

pytestmark = pytest.mark.slow


def test_reindex_rebuilds_for_the_fusion_head_and_search_uses_it(settings, settings_env, tmp_path):
    catalog = write_csv(tmp_path / "catalog.csv", good_rows())
    without_head = settings.with_(fusion_head="none")
    assert load_into(without_head, catalog, images_zip(tmp_path / "i.zip")).failed == 0

    app = create_app(without_head)
    try:
        response = app.test_client().get("/api/search?q=gloves&mode=fused")
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == "mode_unavailable" and "VITRINE_FUSION_HEAD" in error["message"]
    finally:
        app.extensions["vitrine_index"].close()

    # The default settings add the shipped head's fused vector: the old collection is refused.
    with pytest.raises(IndexConfigMismatch, match="vitrine reindex"):
        create_app(settings)

    result = CliRunner().invoke(main, ["reindex", "--no-progress"], env=settings_env)
    assert result.exit_code == 0, result.output
    assert "3 products indexed" in result.output

    app = create_app(settings)
    try:
        client = app.test_client()
        health = client.get("/health").get_json()
        assert health["products"] == health["indexed"] == health["points"] == 3
        found = client.get("/api/search?q=gloves&mode=fused").get_json()["results"]
        assert found[0]["sku"] == "A-3"
    finally:
        app.extensions["vitrine_index"].close()


def test_reindex_of_an_unchanged_deployment_keeps_every_product(settings, settings_env, tmp_path):
    catalog = write_csv(tmp_path / "catalog.csv", good_rows())
    assert load_into(settings, catalog, images_zip(tmp_path / "i.zip")).failed == 0
    result = CliRunner().invoke(main, ["reindex", "--no-progress"], env=settings_env)
    assert result.exit_code == 0 and "3 products indexed" in result.output
    app = create_app(settings)
    try:
        hits = app.test_client().get("/api/search?q=T恤&mode=keyword").get_json()["results"]
        assert hits[0]["sku"] == "A-1"
    finally:
        app.extensions["vitrine_index"].close()


# -- without downtime ---------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


class SearchLoop:
    """Shoppers searching the app from another thread while something else happens."""

    def __init__(self, app, url: str) -> None:
        self.client = app.test_client()
        self.url = url
        self.answers: list[tuple[int, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            response = self.client.get(self.url)
            body = response.get_json()
            self.answers.append((response.status_code, [r["sku"] for r in body.get("results", [])]))
            time.sleep(0.02)

    def __enter__(self) -> SearchLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`vitrine ARGS` in another process, as an operator would run it beside the server."""
    return subprocess.run(
        [sys.executable, "-c", "from loaders.cli import main; main()", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_serving_app_picks_up_a_reindex_run_by_another_process(settings, settings_env, tmp_path):
    zipped = images_zip(tmp_path / "i.zip")
    assert load_into(settings, write_csv(tmp_path / "catalog.csv", good_rows()), zipped).failed == 0
    # A product in the catalog whose vectors never made it (killed load): the rebuild adds it.
    store_only(
        settings, [{"sku": "A-4", "title": "Wool scarf", "keywords": "winter"}], None, tmp_path
    )
    app = create_app(settings)
    try:
        assert app.extensions["vitrine_index"].get().info().version == "v1"
        with SearchLoop(app, "/api/search?q=gloves") as loop:
            result = run_cli(["reindex", "--no-progress", "--wait", "120"], settings_env)
            time.sleep(1.0)  # a few more searches on the new version
        assert result.returncode == 0, result.stdout + result.stderr
        assert "4 products indexed into version v2; old version removed" in result.stdout

        # Every search during the rebuild and the switch answered, with the product first.
        assert len(loop.answers) > 20
        assert all(status == 200 and skus[0] == "A-3" for status, skus in loop.answers)

        client = app.test_client()  # the same app, not restarted
        assert client.get("/api/search?q=scarf").get_json()["results"][0]["sku"] == "A-4"
        health = client.get("/health").get_json()
        assert health["products"] == health["indexed"] == health["points"] == 4
        assert app.extensions["vitrine_index"].get().info().version == "v2"
        assert sorted(p.name for p in settings.qdrant_path.iterdir()) == ["current.json", "v2"]
    finally:
        app.extensions["vitrine_index"].close()


def test_products_written_during_the_rebuild_are_in_the_new_version(settings, tmp_path):
    zipped = images_zip(tmp_path / "i.zip")
    load_into(settings, write_csv(tmp_path / "catalog.csv", good_rows()), zipped)
    changed = good_rows()[0] | {"title": "Linen T-shirt"}
    landed = []

    def upload_lands(count: int) -> None:  # after the first batch was encoded
        if not landed:
            store_only(settings, [changed], zipped, tmp_path)
            landed.append(count)

    summary = rebuild(settings, progress=upload_lands)
    assert summary.caught_up == 1 and summary.old_removed and summary.pending == 0
    app = create_app(settings)
    try:
        hits = app.test_client().get("/api/search?q=linen&mode=keyword").get_json()["results"]
        assert hits[0]["sku"] == "A-1" and hits[0]["title"] == "Linen T-shirt"
        health = app.test_client().get("/health").get_json()
        assert health["products"] == health["indexed"] == health["points"] == 3
    finally:
        app.extensions["vitrine_index"].close()


def test_a_server_on_the_old_encoders_keeps_answering_and_switches_on_restart(settings, tmp_path):
    without_head = settings.with_(fusion_head="none")
    assert (
        load_into(
            without_head,
            write_csv(tmp_path / "catalog.csv", good_rows()),
            images_zip(tmp_path / "i.zip"),
        ).failed
        == 0
    )
    app = create_app(without_head)
    try:
        with SearchLoop(app, "/api/search?q=gloves") as loop:
            summary = rebuild(settings, release_timeout=1.0)  # adds the fusion head's vector
        assert summary.version == "v2" and not summary.old_removed
        assert "still open in another process" in summary.line()
        assert loop.answers and all(s == 200 and k[0] == "A-3" for s, k in loop.answers)
    finally:
        app.extensions["vitrine_index"].close()

    restarted = create_app(settings)  # with the settings the new version was built for
    try:
        found = restarted.test_client().get("/api/search?q=gloves&mode=fused").get_json()
        assert found["results"][0]["sku"] == "A-3"
        assert sorted(p.name for p in settings.qdrant_path.iterdir()) == ["current.json", "v2"]
    finally:
        restarted.extensions["vitrine_index"].close()


def test_reindex_on_the_qdrant_client_adapter_switches_its_alias(settings, settings_env, tmp_path):
    settings = settings.with_(index_backend="qdrant")
    env = {**settings_env, "VITRINE_INDEX_BACKEND": "qdrant"}
    assert (
        load_into(
            settings,
            write_csv(tmp_path / "catalog.csv", good_rows()),
            images_zip(tmp_path / "i.zip"),
        ).failed
        == 0
    )
    result = CliRunner().invoke(main, ["reindex", "--no-progress"], env=env)
    assert result.exit_code == 0, result.output
    assert "3 products indexed into version products_v2; old version removed" in result.output
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        assert [c.name for c in client.get_collections().collections] == ["products_v2"]
        [alias] = client.get_aliases().aliases
        assert (alias.alias_name, alias.collection_name) == ("products", "products_v2")
    finally:
        client.close()


def test_offline_reindex_is_still_available(settings, settings_env, tmp_path):
    assert (
        load_into(
            settings,
            write_csv(tmp_path / "catalog.csv", good_rows()),
            images_zip(tmp_path / "i.zip"),
        ).failed
        == 0
    )
    result = CliRunner().invoke(main, ["reindex", "--offline", "--no-progress"], env=settings_env)
    assert result.exit_code == 0 and "3 products indexed" in result.output
