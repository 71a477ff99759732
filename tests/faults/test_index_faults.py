"""A deleted, garbled or vanished index: search answers 503 (never an empty 200), ``/health``
says why, every command says what to do instead of a traceback, and ``vitrine index repair``
rebuilds the index from the catalog, keeping the unreadable folder aside."""

from __future__ import annotations

import shutil
import time

import pytest
from click.testing import CliRunner

from backend.app import create_app
from loaders.cli import EXIT_FAILED, main
from loaders.pipeline import load_into
from tests.catalogs import good_rows, images_zip, write_csv

pytestmark = pytest.mark.slow


@pytest.fixture
def loaded(settings, tmp_path):
    """Three products loaded with their pictures; the settings' index folder."""
    zipped = images_zip(tmp_path / "images.zip")
    assert load_into(settings, write_csv(tmp_path / "catalog.csv", good_rows()), zipped).failed == 0
    return settings


def first_segment(settings):
    version = settings.qdrant_path / "v1"
    return next((version / "segments").iterdir())


def garble_pointer(settings) -> None:
    (settings.qdrant_path / "current.json").write_text("garbage{", encoding="utf-8")


def garble_segment(settings) -> None:
    (first_segment(settings) / "segment.json").write_text("xx", encoding="utf-8")


def delete_index(settings) -> None:
    shutil.rmtree(settings.qdrant_path)


def cli(settings_env, *args):
    return CliRunner().invoke(main, [*args, "--no-progress"], env=settings_env)


def search_skus(client, q: str) -> list[str]:
    response = client.get("/api/search", query_string={"q": q})
    assert response.status_code == 200, response.get_json()
    return [hit["sku"] for hit in response.get_json()["results"]]


FAULTS = {
    "deleted": (delete_index, "index_missing"),
    "garbage pointer": (garble_pointer, "index_corrupt"),
    "garbled segment": (garble_segment, "index_corrupt"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_broken_index_answers_503_then_repair_rebuilds_it(fault, loaded, settings_env):
    settings = loaded
    damage, code = FAULTS[fault]
    damage(settings)

    app = create_app(settings)  # starts: health and search say what is wrong
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    body = health.get_json()
    assert (body["status"], body["index_error_code"]) == ("unavailable", code)
    assert (body["products"], body["indexed"]) == (3, 3)
    assert "vitrine index repair" in body["index_error"]
    response = client.get("/api/search?q=shirt")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == code

    refusing = [["reconcile"]]  # a clear refusal, no traceback
    if code == "index_corrupt":  # (a deleted folder is simply rebuilt by an offline reindex)
        refusing.append(["reindex", "--offline"])
    for command in refusing:
        result = cli(settings_env, *command)
        assert result.exit_code == EXIT_FAILED, (command, result.output)
        assert "vitrine index repair" in result.output, (command, result.output)

    result = cli(settings_env, "index", "repair")
    assert result.exit_code == 0, result.output
    assert "3 products indexed into version v1" in result.output
    aside = sorted(settings.qdrant_path.parent.glob("qdrant.corrupt-*"))
    if code == "index_corrupt":  # kept for examination, not deleted
        assert len(aside) == 1 and "moved the unreadable folder aside" in result.output
        assert (aside[0] / "current.json").exists()
    else:
        assert aside == []

    assert search_skus(client, "T-shirt")[0] == "A-1"  # the running app opens the rebuilt index
    health = client.get("/health").get_json()
    assert (health["status"], health["points"], health["problems"]) == ("ok", 3, [])
    app.extensions["vitrine_index"].close()  # (it holds the folder: a command waits for it)
    assert cli(settings_env, "reconcile", "--dry-run").exit_code == 0


def test_index_deleted_while_serving_answers_503_until_repaired(loaded, settings_env):
    settings = loaded
    app = create_app(settings)
    client = app.test_client()
    assert search_skus(client, "T-shirt")[0] == "A-1"

    delete_index(settings)
    time.sleep(0.6)  # the index looks at its folder at most every half second
    response = client.get("/api/search?q=shirt")
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "index_missing"
    health = client.get("/health")
    assert health.status_code == 503
    assert "removed while serving" in health.get_json()["index_error"]

    result = cli(settings_env, "index", "repair")
    assert result.exit_code == 0, result.output
    time.sleep(0.6)
    assert search_skus(client, "T-shirt")[0] == "A-1"
    assert client.get("/health").get_json()["status"] == "ok"
    app.extensions["vitrine_index"].close()


def test_repair_of_a_readable_index_reconciles_and_keeps_it(loaded, settings_env):
    settings = loaded
    before = sorted(p.name for p in settings.qdrant_path.iterdir())
    result = cli(settings_env, "index", "repair")
    assert result.exit_code == 0, result.output
    assert "the index is readable; reconciled it" in result.output
    assert "catalog and index agree" in result.output
    assert sorted(p.name for p in settings.qdrant_path.iterdir()) == before
