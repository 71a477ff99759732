"""Admission of searches: at most ``VITRINE_MAX_SEARCHES`` run at once; one more waits up to
``VITRINE_SEARCH_QUEUE_S`` seconds for its turn, then is answered 503 ``overloaded`` with
``Retry-After`` instead of queueing without bound behind the others (and behind an upload's
encoding, which shares the cores). A client told to come back costs nothing more."""

from __future__ import annotations

import threading

from flask import Flask, current_app, g, request

from backend.errors import Overloaded

EXTENSION = "vitrine_admission"
# The routes that encode a query and ask the index.
SEARCH_ENDPOINTS = frozenset(
    {
        "search.search_text",
        "search.search_image",
        "products.similar",
        "recommend.recommend_products",
    }
)


class SearchGate:
    """A counted gate: ``enter`` waits up to ``wait_s`` for a free place, else Overloaded."""

    def __init__(self, running: int, wait_s: float) -> None:
        self.running = running
        self.wait_s = wait_s
        self._places = threading.BoundedSemaphore(running)

    def enter(self) -> None:
        if not self._places.acquire(timeout=self.wait_s):
            raise Overloaded(
                f"{self.running} searches are running and this one waited {self.wait_s:g} s "
                "for its turn: try again in a moment"
            )

    def leave(self) -> None:
        self._places.release()


def init_app(app: Flask) -> None:
    settings = app.config["VITRINE_SETTINGS"]
    app.extensions[EXTENSION] = SearchGate(settings.max_searches, settings.search_queue_s)

    @app.before_request
    def admit() -> None:
        if request.endpoint in SEARCH_ENDPOINTS:
            current_app.extensions[EXTENSION].enter()
            g.admitted = True

    @app.teardown_request
    def release(_: BaseException | None) -> None:
        if g.pop("admitted", False):
            current_app.extensions[EXTENSION].leave()
