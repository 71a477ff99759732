"""Ways a deployment's catalog and index drift apart, done with the real parts.

``store_only`` runs the first half of the ingest chain (parse, images, SQL) and stops, as a
load killed between SQL and vectors does; ``add_orphan_point`` leaves a point whose product
the catalog no longer has, as a delete that reached SQL only does.
"""

from __future__ import annotations

from pathlib import Path

from backend.catalog import db
from backend.catalog import service as catalog
from backend.index.factory import open_index
from backend.index.port import Point, point_id, scroll
from backend.settings import Settings
from loaders.images import open_images
from loaders.pipeline import LoadSummary, attach_images, store_batch, validate_rows
from loaders.sources import read_catalog
from tests.catalogs import write_csv


def store_only(settings: Settings, rows: list[dict], images: Path | None, tmp_path: Path) -> None:
    """Store ``rows`` in the catalog as a load would, without writing their vectors."""
    path = write_csv(tmp_path / "partial.csv", rows)
    summary = LoadSummary()
    source = open_images(images)
    engine = db.make_engine(settings.database_url)
    try:
        valid = validate_rows(read_catalog(path), summary, default_currency="USD")
        with_images = list(attach_images(valid, source, summary, settings=settings))
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            store_batch(session, with_images, summary)
    finally:
        source.close()
        engine.dispose()
    assert summary.failed == 0, summary.errors


def add_orphan_point(settings: Settings, sku: str, *, like: str) -> None:
    """Write a point for ``sku`` (vectors copied from product ``like``) straight to the index."""
    index = open_index(settings)
    try:
        [source] = index.retrieve([point_id(like)], vectors=["text", "image", "fused"])
        payload = {**source.payload, "sku": sku, "title": f"{sku} (deleted)"}
        index.upsert([Point(id=point_id(sku), vectors=source.vectors, payload=payload)])
    finally:
        index.close()


def catalog_state(settings: Settings) -> dict[str, tuple[str, str | None]]:
    """Every product's (content_hash, indexed_hash)."""
    engine = db.make_engine(settings.database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            return catalog.index_states(session=session)
    finally:
        engine.dispose()


def index_skus(settings: Settings) -> dict[str, str | None]:
    """The sku and content hash of every point in the index."""
    index = open_index(settings)
    try:
        return {
            str(p.payload["sku"]): p.payload.get("content_hash")
            for p in scroll(index, payload=("sku", "content_hash"))
        }
    finally:
        index.close()
