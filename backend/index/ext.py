"""Flask wiring of the vector index: opened at start-up, reopened on demand if it was down.

A collection built by other encoders stops start-up with a clear message; an index that
cannot be reached (a Qdrant server that is down), cannot be read (corrupt files) or was lost
(deleted while the catalog still marks products indexed) lets the app start, answer 503 on
search and report it in ``/health`` until it comes back or is repaired.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask, current_app

from backend.errors import IndexUnavailable
from backend.index.consistency import check_not_lost
from backend.index.factory import index_location, open_index
from backend.index.port import CollectionSpec, VectorIndex
from backend.settings import Settings

EXTENSION = "vitrine_index"
log = logging.getLogger(__name__)


class IndexHandle:
    """Opens the index lazily and keeps it; ``get()`` raises IndexUnavailable while it is down."""

    def __init__(
        self, settings: Settings, spec: CollectionSpec, *, indexed: Callable[[], int]
    ) -> None:
        self._settings = settings
        self._spec = spec
        self._indexed = indexed  # products the catalog marks indexed (see check_not_lost)
        self._index: VectorIndex | None = None
        self._lock = threading.Lock()

    @property
    def spec(self) -> CollectionSpec:
        """The collection the settings ask for."""
        return self._spec

    def respec(self, spec: CollectionSpec) -> None:
        """Ask for ``spec`` from now on: the open index was switched to a version built for
        it (a retrained fusion head), and a reopened one must be checked against it."""
        with self._lock:
            self._spec = spec

    def get(self) -> VectorIndex:
        """The open index, opening it (and checking its collection) on first use."""
        if self._index is not None:
            return self._index
        with self._lock:
            if self._index is None:
                index = open_index(self._settings)
                try:
                    where = index_location(self._settings)
                    check_not_lost(index, indexed=self._indexed(), where=where)
                    index.ensure_collection(self._spec)
                except Exception:
                    index.close()
                    raise
                self._index = index
        return self._index

    def close(self) -> None:
        """Close the index and release its folder."""
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None


def init_app(app: Flask, spec: CollectionSpec, *, indexed: Callable[[], int]) -> None:
    """Attach an index handle for the collection ``spec`` and try to open it now;
    ``indexed`` counts the products the catalog marks indexed."""
    handle = IndexHandle(app.config["VITRINE_SETTINGS"], spec, indexed=indexed)
    app.extensions[EXTENSION] = handle
    try:
        handle.get()
    except IndexUnavailable as exc:
        log.warning("vector index unavailable at start-up: %s", exc.message)


def get_spec() -> CollectionSpec:
    """The collection the current app's settings ask for."""
    handle: IndexHandle = current_app.extensions[EXTENSION]
    return handle.spec


def get_index() -> VectorIndex:
    """The current app's open index (IndexUnavailable, hence 503, if it cannot be opened)."""
    handle: IndexHandle = current_app.extensions[EXTENSION]
    return handle.get()
