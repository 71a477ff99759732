"""The app as a whole: start-up checks, the index being down, serving raw UTF-8 queries."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading

import pytest

from backend.app import create_app
from backend.catalog.db import migrate
from backend.errors import ConfigurationError, IndexConfigMismatch
from backend.index.factory import open_index
from backend.index.port import CollectionSpec
from backend.serving import make_app_server


def test_collection_built_by_other_encoders_stops_start_up(settings):
    index = open_index(settings)
    try:
        index.ensure_collection(
            CollectionSpec(
                dense={"text": 384, "image": 1280},
                encoders={"text": "st:some-other-model", "image": "efficientnet-lite0"},
            )
        )
    finally:
        index.close()
    with pytest.raises(IndexConfigMismatch) as caught:
        create_app(settings)
    assert "st:some-other-model" in caught.value.message and "minilm" in caught.value.message


HOLD_INDEX = textwrap.dedent(
    """
    import sys, time
    from backend.index.factory import open_index
    from backend.settings import Settings
    index = open_index(Settings(var_dir=sys.argv[1]))
    print("held", flush=True)
    sys.stdin.read()
    index.close()
    """
)


def test_index_held_by_another_process_gives_503_not_empty_results(settings):
    migrate(settings.database_url)
    create_app(settings).extensions["vitrine_index"].close()  # create the collection
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_INDEX, str(settings.var_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        app = create_app(settings)  # starts anyway; search answers 503 until the index is free
        client = app.test_client()
        health = client.get("/health")
        assert health.status_code == 503
        assert health.get_json()["status"] == "unavailable"
        assert "in use by another process" in health.get_json()["index_error"]
        response = client.get("/api/search?q=shirt")
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "index_unavailable"
    finally:
        holder.communicate("", timeout=30)
    assert client.get("/health").status_code == 200  # the index is reopened once it is free
    app.extensions["vitrine_index"].close()


def test_raw_utf8_query_from_curl_is_understood(demo_app):
    """curl sends ``?q=T恤`` as raw bytes; the embedded server must read it as UTF-8."""
    server = make_app_server(demo_app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
            conn.sendall("GET /api/search?q=T恤&limit=1 HTTP/1.0\r\n\r\n".encode())
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
    finally:
        server.shutdown()
        server.server_close()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"), head
    assert '"q":"T恤"' in body.decode() and '"sku":"VT-1F455"' in body.decode()


@pytest.mark.parametrize(
    ("weights", "fusion", "says"),
    [("colour:1", "dbsf", "colour"), ("keywords:2.5", "dbsf", "whole-number weights")],
)
def test_search_weights_the_deployment_cannot_use_stop_start_up(settings, weights, fusion, says):
    with pytest.raises(ConfigurationError, match=says):
        create_app(settings.with_(hybrid_weights=weights, hybrid_fusion=fusion))
