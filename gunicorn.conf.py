"""gunicorn's settings for Vitrine: ``gunicorn -c gunicorn.conf.py`` (the Dockerfile's command).

Embedded mode (no ``VITRINE_QDRANT_URL``): one worker process, which holds the Qdrant Edge
folder and runs upload jobs on a thread, serving requests on ``VITRINE_THREADS`` threads.
A second worker could not open the folder, so asking for more is refused at start with a
message. With a Qdrant server: ``VITRINE_WORKERS`` processes (default: one per core, at
least 2) of 4 threads; upload jobs are left to ``vitrine worker``.
"""

from __future__ import annotations

import os
from typing import Any

from backend.encoders.device import cpu_threads
from backend.settings import Settings

_settings = Settings.from_env()
EMBEDDED = not _settings.qdrant_url

wsgi_app = "loaders.wsgi:from_env()"
bind = [os.environ.get("VITRINE_BIND", f"{_settings.host}:{_settings.port}")]
worker_class = "gthread"
if EMBEDDED:
    workers = 1
    threads = int(os.environ.get("VITRINE_THREADS", "16"))
else:
    workers = int(os.environ.get("VITRINE_WORKERS", str(max(2, cpu_threads()))))
    threads = int(os.environ.get("VITRINE_THREADS", "4"))
# Model loading and the index opening happen in the worker before it answers.
timeout = 120
graceful_timeout = 60
accesslog = None


def on_starting(server: Any) -> None:
    if EMBEDDED and server.cfg.workers > 1:
        raise SystemExit(
            f"Vitrine in embedded mode (Qdrant Edge at {_settings.qdrant_path}) runs one worker "
            f"process, not {server.cfg.workers}: only one process can open the index folder. "
            "Serve more requests with VITRINE_THREADS, or set VITRINE_QDRANT_URL to use a "
            "Qdrant server and several workers."
        )


def post_worker_init(worker: Any) -> None:
    worker.log.info(
        "Vitrine worker %s: %s",
        worker.pid,
        "embedded index, upload jobs run here"
        if EMBEDDED
        else "Qdrant server, upload jobs wait for `vitrine worker`",
    )


def worker_exit(server: Any, worker: Any) -> None:
    """Stop the job thread after the batch in hand and release the index."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        from loaders.wsgi import close

        close(app)
