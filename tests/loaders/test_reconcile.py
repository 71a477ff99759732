"""`vitrine reconcile`: a product missing from the index, a stale one and an orphan point are
found, reported by a dry run without changing anything, then repaired; on both adapters."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from click.testing import CliRunner

from backend.app import create_app
from backend.catalog import db
from backend.catalog.models import Product
from backend.index.factory import open_index
from backend.jobs import JobContext
from loaders.cli import main
from loaders.jobs import run_worker
from loaders.pipeline import load_into, opened
from loaders.reconcile import reconcile
from tests.catalogs import good_rows, images_zip, write_csv
from tests.loaders.breakage import add_orphan_point, catalog_state, index_skus, store_only

pytestmark = pytest.mark.slow

NEW_ROW = {"sku": "A-4", "title": "Wool scarf", "category": "Clothing", "keywords": "winter"}


@pytest.fixture(params=["edge", "qdrant"])
def deployment(request, settings, settings_env, tmp_path):
    """A loaded three-product deployment on each adapter, then broken three ways."""
    settings = settings.with_(index_backend=request.param)
    env = {**settings_env, "VITRINE_INDEX_BACKEND": request.param}
    zipped = images_zip(tmp_path / "images.zip")
    assert load_into(settings, write_csv(tmp_path / "catalog.csv", good_rows()), zipped).failed == 0
    changed = good_rows()[2] | {"title": "Fleece gloves"}
    # A load killed after SQL: A-4 is new (no point), A-3 changed (its point is stale).
    store_only(settings, [NEW_ROW, changed], zipped, tmp_path)
    add_orphan_point(settings, "GONE-9", like="A-2")  # deleted from SQL only
    return settings, env


def test_dry_run_reports_every_difference_and_changes_nothing(deployment):
    settings, env = deployment
    before = (catalog_state(settings), index_skus(settings))

    result = CliRunner().invoke(main, ["reconcile", "--dry-run", "--no-progress"], env=env)

    assert result.exit_code == 1, result.output  # differences found
    assert "missing from the index: 1 (A-4)" in result.output
    assert "stale vectors: 1 (A-3)" in result.output
    assert "orphan points: 1 (GONE-9)" in result.output
    assert "(dry run) 4 products, 4 points: would repair 1 missing, 1 stale, 1 orphans" in (
        result.output
    )
    assert (catalog_state(settings), index_skus(settings)) == before


def test_reconcile_repairs_missing_stale_and_orphans_then_search_agrees(deployment):
    settings, env = deployment
    result = CliRunner().invoke(main, ["reconcile", "--no-progress"], env=env)
    assert result.exit_code == 0, result.output
    assert "repaired 1 missing, 1 stale, 1 orphans" in result.output

    state, points = catalog_state(settings), index_skus(settings)
    assert set(points) == {"A-1", "A-2", "A-3", "A-4"}  # the orphan is gone
    assert all(points[sku] == content == indexed for sku, (content, indexed) in state.items())

    app = create_app(settings)
    try:
        client = app.test_client()
        health = client.get("/health").get_json()
        assert health["products"] == health["indexed"] == health["points"] == 4
        hits = client.get("/api/search?q=scarf").get_json()["results"]
        assert hits[0]["sku"] == "A-4"
        gloves = client.get("/api/search?q=fleece gloves&mode=keyword").get_json()["results"]
        assert gloves[0]["sku"] == "A-3" and gloves[0]["title"] == "Fleece gloves"
    finally:
        app.extensions["vitrine_index"].close()

    again = CliRunner().invoke(main, ["reconcile", "--no-progress"], env=env)
    assert again.exit_code == 0 and "catalog and index agree" in again.output


def test_a_worker_can_call_reconcile_and_a_lost_mark_needs_no_encoding(settings, tmp_path):
    zipped = images_zip(tmp_path / "images.zip")
    load_into(settings, write_csv(tmp_path / "catalog.csv", good_rows()), zipped)
    engine = db.make_engine(settings.database_url)
    try:  # the crash after the point was written and before the catalog recorded it
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            session.query(Product).filter_by(sku="A-2").update({"indexed_hash": None})
    finally:
        engine.dispose()

    with opened(settings) as deployment:

        def no_encoding():
            raise AssertionError("nothing needs encoding")

        report = reconcile(
            sessions=deployment.sessions,
            index=deployment.index,
            encoders=dataclasses.replace(deployment.encoders, load=no_encoding),
            settings=settings,
        )
    assert report.unmarked == ["A-2"] and report.repaired == 1
    assert all(content == indexed for content, indexed in catalog_state(settings).values())


def test_reconcile_tells_plainly_when_the_server_holds_the_index(settings, settings_env, tmp_path):
    assert (
        load_into(
            settings,
            write_csv(tmp_path / "catalog.csv", good_rows()),
            images_zip(tmp_path / "i.zip"),
        ).failed
        == 0
    )
    index = open_index(settings)  # as `vitrine serve` holds it
    try:
        result = CliRunner().invoke(main, ["reconcile", "--no-progress"], env=settings_env)
    finally:
        index.close()
    assert result.exit_code == 3
    assert "in use by another process" in result.output


def test_the_worker_reconciles_between_jobs(deployment):
    settings, _ = deployment
    stop = threading.Event()
    reports = []

    def reconciled(report):
        reports.append(report)
        stop.set()

    with opened(settings) as opened_deployment:
        context = JobContext(
            settings=settings.with_(reconcile_interval_s=60),
            sessions=opened_deployment.sessions,
            index=lambda: opened_deployment.index,
            encoders=opened_deployment.encoders.load,
            fusion=lambda: opened_deployment.encoders.fusion,
            dictionary=opened_deployment.encoders.dictionary,
            multilingual=opened_deployment.encoders.multilingual,
        )
        assert run_worker(context, poll_s=0.01, stop=stop, on_reconcile=reconciled) == 0

    assert len(reports) == 1
    assert (reports[0].missing, reports[0].stale, reports[0].orphans) == (
        ["A-4"],
        ["A-3"],
        ["GONE-9"],
    )
    assert set(index_skus(settings)) == {"A-1", "A-2", "A-3", "A-4"}
