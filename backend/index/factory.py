"""Settings to an open vector index: the one place that picks an adapter.

``index_backend="edge"`` opens the Qdrant Edge shard at ``qdrant_path``; ``"qdrant"`` talks to
the server at ``qdrant_url`` if one is set, otherwise to qdrant-client's local mode at
``qdrant_path``. Opening a folder takes its lock (``IndexUnavailable`` if another process has
it); a server is not contacted until the first call.
"""

from __future__ import annotations

from backend.errors import ConfigurationError
from backend.index.port import VectorIndex
from backend.settings import Settings


def open_index(settings: Settings, *, open_current: bool = True) -> VectorIndex:
    """The index adapter ``settings`` ask for, opened.

    ``open_current=False`` leaves an Edge folder's current version to a serving process until
    first use (a rebuild writes a new version beside it; see ``EdgeIndex``).
    """
    # Adapters are imported here so that a deployment loads only the engine it uses
    # (qdrant-client brings grpc and httpx; qdrant_edge a 35 MB native module).
    if settings.index_backend == "qdrant" and settings.qdrant_url:
        from backend.index.qdrant import QdrantIndex

        return QdrantIndex.server(
            settings.qdrant_url, settings.collection, api_key=settings.qdrant_api_key
        )
    if settings.qdrant_path is None:  # Settings derives it from var_dir; None is a bug
        raise ConfigurationError("VITRINE_QDRANT_PATH is not set")
    if settings.index_backend == "edge":
        from backend.index.edge import EdgeIndex

        return EdgeIndex(settings.qdrant_path, open_current=open_current)
    if settings.index_backend == "qdrant":
        from backend.index.qdrant import QdrantIndex

        return QdrantIndex.local_mode(settings.qdrant_path, settings.collection)
    raise ConfigurationError(
        f"VITRINE_INDEX_BACKEND must be edge or qdrant, not {settings.index_backend!r}"
    )


def index_location(settings: Settings) -> str:
    """Where the settings' index lives, for messages: the server URL or the folder."""
    if settings.index_backend == "qdrant" and settings.qdrant_url:
        return f"at {settings.qdrant_url} (collection {settings.collection!r})"
    return f"at {settings.qdrant_path}"
