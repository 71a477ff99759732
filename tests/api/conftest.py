"""Fixtures for the API tests: the demo shop on the second index adapter as well."""

from __future__ import annotations

import pytest

from backend.app import create_app
from backend.settings import Settings
from loaders.pipeline import load_into
from tests.conftest import DEMO


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
