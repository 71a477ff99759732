"""Hostile or broken requests get a JSON 400-class answer, never a 500, an HTML page or a 200
that silently ignores what was asked."""

from __future__ import annotations

import json
import socket

import pytest

from tests.live import live_server


@pytest.fixture(scope="module")
def server(demo_app):
    """The embedded HTTP server over the demo shop (raw bytes reach it as sent)."""
    with live_server(demo_app) as served:
        yield served


def send(server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one raw HTTP/1.0 request."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def error_of(status_headers_body) -> tuple[int, str, str]:
    status, headers, body = status_headers_body
    assert headers["content-type"].startswith("application/json"), (status, headers, body[:200])
    error = json.loads(body)["error"]
    return status, error["code"], error["message"]


@pytest.mark.parametrize(
    "query",
    [b"q=caf\xe9", b"q=%ff%fe", b"q=caf%E9&limit=2"],
    ids=["raw latin-1 byte", "percent-encoded junk", "percent-encoded latin-1"],
)
def test_a_query_string_that_is_not_utf8_is_a_400(server, query):
    status, code, message = error_of(
        send(server, b"GET /api/search?" + query + b" HTTP/1.0\r\n\r\n")
    )
    assert (status, code) == (400, "invalid_request")
    assert "query string is not UTF-8" in message


def test_a_path_that_is_not_utf8_is_a_400(server):
    status, code, message = error_of(send(server, b"GET /api/products/caf%E9 HTTP/1.0\r\n\r\n"))
    assert (status, code) == (400, "invalid_request") and "path is not UTF-8" in message


def test_a_request_line_over_64_kib_is_a_json_414(server):
    line = b"GET /api/search?q=" + b"a" * 100_000 + b" HTTP/1.0\r\n\r\n"
    status, code, _ = error_of(send(server, line))
    assert (status, code) == (414, "request-uri_too_long")


def test_a_header_over_64_kib_is_a_json_431(server):
    request = b"GET /health HTTP/1.0\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n"
    status, code, _ = error_of(send(server, request))
    assert (status, code) == (431, "request_header_fields_too_large")


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/api/search?q=shirt&color=red", "color"),
        ("/api/search?q=shirt&prise_max=10", "prise_max"),
        ("/api/products?colour=red", "colour"),
        ("/api/products/VT-1F455/similar?size=M", "size"),
    ],
)
def test_an_unknown_parameter_is_a_400_not_ignored(client, path, unknown):
    response = client.get(path)
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message.startswith(f"unknown parameter {unknown}; use ") and "category" in message


def test_an_unknown_picture_search_field_is_a_400(client):
    response = client.post(
        "/api/search/image", data={"colour": "red"}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "unknown form field colour" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"positive": ' + "[" * 5_000 + "]" * 5_000 + "}"],
    ids=["nested array", "nested field"],
)
def test_deeply_nested_json_is_a_400(client, body):
    response = client.post("/api/recommend", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "the JSON body is nested too deeply"


def test_well_formed_requests_still_work(server):
    status, _, body = send(server, b"GET /api/search?q=caf%C3%A9&limit=1 HTTP/1.0\r\n\r\n")
    assert status == 200 and json.loads(body)["query"]["q"] == "café"
    status, _, body = send(server, b"GET /api/products/VT-1F455 HTTP/1.0\r\n\r\n")
    assert status == 200 and json.loads(body)["sku"] == "VT-1F455"
    status, _, body = send(server, "GET /api/products/T恤 HTTP/1.0\r\n\r\n".encode())
    assert status == 404 and "T恤" in json.loads(body)["error"]["message"]  # read as UTF-8
