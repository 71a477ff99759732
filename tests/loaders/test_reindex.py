"""`vitrine reindex`: a collection built for other models is rebuilt from the catalog."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from backend.app import create_app
from backend.errors import IndexConfigMismatch
from loaders.cli import main
from loaders.pipeline import load_into
from tests.catalogs import good_rows, images_zip, write_csv

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
