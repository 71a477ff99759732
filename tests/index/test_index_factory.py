"""``open_index``: settings pick the adapter; an unreachable server is a 503, not a crash."""

from __future__ import annotations

import pytest

from backend.errors import IndexUnavailable
from backend.index.edge import EdgeIndex
from backend.index.factory import open_index
from backend.index.qdrant import QdrantIndex
from backend.settings import Settings
from tests.index.conftest import SPEC

# Nothing listens on port 1: connections are refused at once.
UNREACHABLE = "http://127.0.0.1:1"


def test_edge_is_the_default(tmp_path):
    index = open_index(Settings(var_dir=tmp_path))
    try:
        assert isinstance(index, EdgeIndex)
        assert index.path == tmp_path / "qdrant"
    finally:
        index.close()


def test_qdrant_without_url_is_local_mode_at_the_same_path(tmp_path):
    index = open_index(Settings(var_dir=tmp_path, index_backend="qdrant", collection="shop"))
    try:
        assert isinstance(index, QdrantIndex)
        assert index.local and index.collection == "shop"
        index.ensure_collection(SPEC)
    finally:
        index.close()
    reopened = open_index(Settings(var_dir=tmp_path, index_backend="qdrant", collection="shop"))
    try:
        assert reopened.info() is not None
    finally:
        reopened.close()


def test_a_url_means_a_server_that_is_contacted_lazily(tmp_path):
    index = open_index(Settings(var_dir=tmp_path, qdrant_url=UNREACHABLE))
    try:
        assert isinstance(index, QdrantIndex)
        assert not index.local
        with pytest.raises(IndexUnavailable, match=r"127\.0\.0\.1:1"):
            index.ping()
        with pytest.raises(IndexUnavailable):
            index.ensure_collection(SPEC)
    finally:
        index.close()
