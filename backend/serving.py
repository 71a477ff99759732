"""The embedded-mode HTTP server: one process (holding the Edge folder), a thread per request.

Werkzeug's threaded server, with two repairs. Shoppers type ``?q=T恤`` and curl sends those
bytes raw; strict servers reject such a request line, and werkzeug re-encodes the already
decoded query so the app would read mojibake. Here the query string and the path reach the
app as WSGI says they should (the raw bytes as latin-1), so the app decodes them as UTF-8
and refuses what is not (``backend.api.guards``). And what http.server refuses itself (414,
431) is answered in the API's JSON error shape, not an HTML page.
Production with a Qdrant server runs several processes under gunicorn instead.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _RequestHandler(WSGIRequestHandler):
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses before the app sees it (a request line or a header over
        64 KiB: 414, 431; a garbled request line: 400) answered in the API's JSON shape
        instead of an HTML page."""
        short, long = self.responses.get(code, ("Error", ""))
        body = json.dumps(
            {"error": {"code": short.lower().replace(" ", "_"), "message": message or long}}
        ).encode("utf-8")
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def make_environ(self) -> Any:
        environ = super().make_environ()
        # http.server decoded the request line as latin-1: that is the WSGI form already.
        # PATH_INFO likewise: werkzeug unquotes it lossily (bytes that are not UTF-8 become
        # U+FFFD), so it is made again from the raw bytes, and the app can refuse them.
        split = urlsplit(self.path)
        environ["QUERY_STRING"] = split.query
        if self.path.startswith("/") and not self.path.startswith("//"):  # else werkzeug's
            environ["PATH_INFO"] = unquote_to_bytes(split.path.encode("latin-1")).decode("latin-1")
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # no access log line per search; errors are still logged by the app

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        """A client that went away mid-answer (a browser leaving a page while its pictures
        load): werkzeug may not reach the answer's ``close()`` then, leaving a media file
        open, so it is closed here."""
        answer = (environ or {}).get(_ANSWER)
        if answer is not None and hasattr(answer, "close"):
            answer.close()


_ANSWER = "vitrine.answer"  # the WSGI answer iterable, kept in its environ


def _keeping_answer(app: Flask) -> Any:
    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ[_ANSWER] = answer = app(environ, start_response)
        return answer

    return wsgi


def make_app_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for ``app`` bound to host:port (call ``serve_forever``)."""
    return make_server(
        host, port, _keeping_answer(app), threaded=True, request_handler=_RequestHandler
    )
