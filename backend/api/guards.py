"""Checks every request passes before a route reads it.

Werkzeug decodes a query string or path that is not UTF-8 with U+FFFD in place of the bad
bytes, so ``?q=caf%E9`` (Latin-1 from an old form) would search for "caf�" and answer 200
with results for words the shopper never typed. Such a request gets a 400 naming the part.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, request

from backend.errors import InvalidRequest


def _check_utf8(what: str, raw: bytes) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex().upper()
        raise InvalidRequest(
            f"the {what} is not UTF-8 text (byte 0x{bad} at {exc.start}): percent-encode "
            "UTF-8 bytes, e.g. café as caf%C3%A9"
        ) from None


def check_request_text() -> None:
    """InvalidRequest unless the path and the (percent-decoded) query string are UTF-8."""
    # WSGI hands both over as latin-1 strings of the raw bytes; PATH_INFO is already
    # percent-decoded by the server, QUERY_STRING is not.
    path = request.environ.get("PATH_INFO", "")
    _check_utf8("path", path.encode("latin-1", "replace"))
    _check_utf8("query string", unquote_to_bytes(request.query_string))


def register_guards(app: Flask) -> None:
    """Run the checks before every request of ``app``."""
    app.before_request(check_request_text)


def json_body() -> object:
    """The request's JSON, or None when it is not JSON (the route words the error)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:  # the decoder's depth limit: "[[[[...]]]]"
        raise InvalidRequest("the JSON body is nested too deeply") from None
