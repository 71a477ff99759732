"""The app served for real: the embedded HTTP server on a loopback port, on a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import BaseWSGIServer

from backend.serving import make_app_server


@contextmanager
def live_server(app: Flask) -> Iterator[BaseWSGIServer]:
    """Serve ``app`` on 127.0.0.1 (a free port) until the block ends."""
    served = make_app_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()
        thread.join(timeout=10)
