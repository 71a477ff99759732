"""The embedded-mode HTTP server: one process (holding the Edge folder), a thread per request.

Werkzeug's threaded server, with one repair: shoppers type ``?q=T恤`` and curl sends those
bytes raw; strict servers reject such a request line, and werkzeug re-encodes the already
decoded query so the app would read mojibake. Here the query string reaches the app as WSGI
says it should (the raw bytes as latin-1), so ``request.args`` decodes it as UTF-8.
Production with a Qdrant server runs several processes under gunicorn instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _RequestHandler(WSGIRequestHandler):
    def make_environ(self) -> Any:
        environ = super().make_environ()
        # http.server decoded the request line as latin-1: that is the WSGI form already.
        environ["QUERY_STRING"] = urlsplit(self.path).query
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # no access log line per search; errors are still logged by the app


def make_app_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for ``app`` bound to host:port (call ``serve_forever``)."""
    return make_server(host, port, app, threaded=True, request_handler=_RequestHandler)
