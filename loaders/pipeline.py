"""The ingest pipeline: rows → validated products with stored images → SQL → vectors → index.

Each step is a small function over an iterator; ``load_catalog`` chains them. SQL is written
first, a batch at a time; a product is marked indexed only once its point is in the index,
so a crash between the two leaves it visibly pending, and the next load indexes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import service as catalog
from backend.catalog.db import session_scope
from backend.catalog.models import Product
from backend.catalog.schema import ImageData, ProductData
from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FusionHead
from backend.encoders.multilingual import MultilingualEncoder
from backend.errors import InvalidCatalogRow, VitrineError
from backend.index.port import CollectionSpec, Point, VectorIndex
from backend.indexing import build_points, collection_spec
from backend.media import decode_image, store_image
from backend.search.definitions import Dictionary
from backend.settings import Settings
from backend.storage import check_free_space
from loaders.encoding import EncodingProcess
from loaders.fetch import UrlPolicy
from loaders.images import ImageSource, open_images, read_image_ref
from loaders.rows import RowFormatError
from loaders.sources import read_catalog
from loaders.validate import ParsedRow, parse_row

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    """A row that did not load: its line in the file, its sku if known, and why."""

    line: int | None
    sku: str | None
    reason: str


@dataclass
class LoadSummary:
    """What a load did, row by row."""

    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    indexed: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Set when the fusion head was trained on too few of the indexed products for hybrid
    # search to use it: what to do about it.
    fusion_note: str | None = None

    def fail(self, line: int | None, sku: str | None, reason: str) -> None:
        """Record a row that did not load."""
        self.failed += 1
        self.errors.append(RowError(line, sku, reason))

    def line(self) -> str:
        """One-line summary for the command line."""
        return (
            f"{self.received} rows: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.failed} failed; {self.indexed} indexed"
        )


@dataclass(frozen=True)
class Encoders:
    """The encoders a load needs, loaded only when something must be encoded.

    Every field is required: a caller that forgot one would write vectors that differ from
    what the collection's spec records.
    """

    load: Callable[[], tuple[TextEncoder, ImageEncoder]]
    fusion: FusionHead | None
    dictionary: Dictionary | None  # definitions of product names (text vectors)
    multilingual: MultilingualEncoder | None  # the multilingual vector's encoder
    # Where the points are built instead of this process (a serving process's jobs).
    process: EncodingProcess | None = None

    def spec(self) -> CollectionSpec:
        """The collection these encoders produce points for."""
        text, image = self.load()
        return collection_spec(text, image, self.fusion, self.dictionary, self.multilingual)

    def points(self, products: Sequence[Product], *, media_dir: Path) -> list[Point]:
        """The products' index points, encoded with these encoders, head and dictionary
        (in ``process`` if there is one, which must load the same)."""
        if self.process is not None:
            return self.process.points(products, media_dir=media_dir, spec=self.spec())
        text, image = self.load()
        return build_points(
            products,
            text=text,
            image=image,
            media_dir=media_dir,
            fusion=self.fusion,
            dictionary=self.dictionary,
            multilingual=self.multilingual,
        )


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def validate_rows(
    rows: Iterable[tuple[int, dict[str, object]] | RowFormatError],
    summary: LoadSummary,
    *,
    default_currency: str,
    skip: int = 0,
) -> Iterator[ParsedRow]:
    """Valid rows; bad rows and repeated skus are recorded in the summary and dropped.

    The first ``skip`` rows (handled before a resumed job was interrupted) are read only to
    know their skus, so that a duplicate further down is still reported.
    """
    first_line: dict[str, int] = {}
    for ordinal, item in enumerate(rows):
        replay = ordinal < skip
        if not replay:
            summary.received += 1
        if isinstance(item, RowFormatError):
            if not replay:
                summary.fail(item.line, item.sku, item.reason)
            continue
        line, raw = item
        try:
            parsed = parse_row(line, raw, default_currency=default_currency)
        except InvalidCatalogRow as exc:
            if not replay:
                summary.fail(exc.line, exc.sku, exc.message)
            continue
        sku = parsed.product.sku
        if sku in first_line:
            if not replay:
                summary.fail(line, sku, f"duplicate sku: already on line {first_line[sku]}")
            continue
        first_line[sku] = line
        if not replay:
            yield parsed


def attach_images(
    rows: Iterable[ParsedRow], source: ImageSource, summary: LoadSummary, *, settings: Settings
) -> Iterator[tuple[int, ProductData]]:
    """Rows with their images read, checked and stored; a row with a bad image is dropped."""
    assert settings.media_dir is not None
    policy = UrlPolicy.from_settings(settings)
    for row in rows:
        images = []
        try:
            for ref in row.image_refs:
                data = read_image_ref(
                    source, ref, max_bytes=settings.max_image_bytes, policy=policy
                )
                decoded = decode_image(
                    data,
                    max_bytes=settings.max_image_bytes,
                    max_pixels=settings.max_image_pixels,
                    name=f"image {ref!r}",
                )
                images.append(
                    ImageData(
                        source=ref,
                        path=store_image(decoded, settings.media_dir),
                        sha256=decoded.sha256,
                        width=decoded.image.width,
                        height=decoded.image.height,
                        content_type=decoded.content_type,
                    )
                )
        except VitrineError as exc:
            summary.fail(row.line, row.product.sku, exc.message)
            continue
        except OSError as exc:  # an unreadable file in the images folder
            summary.fail(row.line, row.product.sku, f"image could not be read: {exc}")
            continue
        yield row.line, replace(row.product, images=images)


def store_batch(
    session: Session, batch: Sequence[tuple[int, ProductData]], summary: LoadSummary
) -> list[str]:
    """Upsert a batch in one transaction; the skus whose vectors must be (re)written.

    The batch is written in one flush; if the database refuses it, each row is retried in a
    savepoint of its own, so only the offending rows are reported and the others land.
    """
    try:
        with session.begin_nested():
            results = catalog.upsert_products(session=session, items=[p for _, p in batch])
    except Exception:
        results = []
        for line, product in batch:
            try:
                with session.begin_nested():
                    results.append(catalog.upsert_product(session=session, data=product))
            except Exception as exc:  # a constraint we did not foresee: report the row
                log.warning("line %s (%s) not stored: %s", line, product.sku, exc)
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                summary.fail(line, product.sku, f"could not be stored: {reason}")
    pending = []
    for outcome, stored in results:
        setattr(summary, outcome, getattr(summary, outcome) + 1)
        if stored.indexed_hash != stored.content_hash:
            pending.append(stored.sku)
    return pending


def index_products(
    session: Session,
    skus: Sequence[str],
    *,
    index: VectorIndex,
    encoders: Encoders,
    settings: Settings,
) -> int:
    """Encode and upsert these products' points, then mark them indexed; how many."""
    if not skus:
        return 0
    check_free_space(settings, what="indexing")
    products = list(catalog.get_products(session=session, skus=skus).values())
    assert settings.media_dir is not None
    index.upsert(encoders.points(products, media_dir=settings.media_dir))
    catalog.mark_indexed(session=session, hashes={p.sku: p.content_hash for p in products})
    return len(products)


def load_catalog(
    catalog_path: Path,
    images_path: Path | None,
    *,
    sessions: sessionmaker[Session],
    index: VectorIndex,
    encoders: Encoders,
    settings: Settings,
    batch_size: int = 64,
    progress: Callable[[int], object] | None = None,
) -> LoadSummary:
    """Load a catalog file (and its images) into the catalog and the index."""
    summary = LoadSummary()
    source = open_images(images_path)
    try:
        rows = read_catalog(catalog_path)
        valid = validate_rows(rows, summary, default_currency=settings.default_currency)
        with_images = attach_images(valid, source, summary, settings=settings)
        seen = 0
        for batch in batched(with_images, batch_size):
            check_free_space(settings, what="the load")
            with session_scope(sessions) as session:
                pending = store_batch(session, batch, summary)
            with session_scope(sessions) as session:
                summary.indexed += index_products(
                    session, pending, index=index, encoders=encoders, settings=settings
                )
            if progress is not None:
                progress(summary.received - seen)
                seen = summary.received
        if progress is not None and summary.received > seen:
            progress(summary.received - seen)
    finally:
        source.close()
    summary.indexed += index_pending(
        sessions=sessions, index=index, encoders=encoders, settings=settings, batch_size=batch_size
    )
    if summary.indexed:
        index.optimize()
    return summary


def index_pending(
    *,
    sessions: sessionmaker[Session],
    index: VectorIndex,
    encoders: Encoders,
    settings: Settings,
    batch_size: int = 64,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Index every product whose vectors are missing or stale (left by an interrupted load)."""
    with session_scope(sessions) as session:
        skus = [p.sku for p in catalog.products_needing_index(session=session)]
    done = 0
    for batch in batched(skus, batch_size):
        with session_scope(sessions) as session:
            done += index_products(
                session, batch, index=index, encoders=encoders, settings=settings
            )
        if progress is not None:
            progress(len(batch))
    return done


@dataclass(frozen=True)
class Deployment:
    """What a command works on: catalog sessions, the open index and the encoders."""

    sessions: sessionmaker[Session]
    index: VectorIndex
    encoders: Encoders
    spec: CollectionSpec


@contextmanager
def opened(
    settings: Settings, *, check_collection: bool = True, open_current: bool = True
) -> Iterator[Deployment]:
    """Migrate, load the encoders and open the index from settings; close them afterwards.

    ``check_collection`` creates the collection or checks it fits the settings;
    ``open_current=False`` leaves the serving version to a running server until first use.
    """
    from backend.catalog import db
    from backend.encoders.registry import (
        dictionary_from_settings,
        encoders_from_settings,
        fusion_from_settings,
        multilingual_from_settings,
    )
    from backend.index.consistency import check_not_lost
    from backend.index.factory import index_location, open_index

    db.migrate(settings.database_url)
    text, image = encoders_from_settings(settings)
    fusion = fusion_from_settings(settings, text, image)
    dictionary = dictionary_from_settings(settings)
    multilingual = multilingual_from_settings(settings)
    engine = db.make_engine(settings.database_url)
    try:
        index = open_index(settings, open_current=open_current)
        try:
            encoders = Encoders(lambda: (text, image), fusion, dictionary, multilingual)
            spec = encoders.spec()
            if check_collection:
                with session_scope(db.make_sessionmaker(engine)) as session:
                    indexed = catalog.count_indexed(session=session)
                check_not_lost(index, indexed=indexed, where=index_location(settings))
                index.ensure_collection(spec)
            yield Deployment(
                sessions=db.make_sessionmaker(engine),
                index=index,
                encoders=encoders,
                spec=spec,
            )
        finally:
            index.close()
    finally:
        engine.dispose()


def load_into(
    settings: Settings,
    catalog_path: Path,
    images_path: Path | None,
    *,
    progress: Callable[[int], object] | None = None,
) -> LoadSummary:
    """Migrate, open the encoders and the index from settings, load, and close the index."""
    with opened(settings) as deployment:
        summary = load_catalog(
            catalog_path,
            images_path,
            sessions=deployment.sessions,
            index=deployment.index,
            encoders=deployment.encoders,
            settings=settings,
            progress=progress,
        )
        summary.fusion_note = fusion_note(deployment.index, deployment.encoders.fusion)
        return summary


def fusion_note(
    index: VectorIndex, head: FusionHead | None, *, refreshes: bool = False
) -> str | None:
    """What to do when the fusion head was not trained on enough of the indexed products for
    hybrid search to use it (``HEAD_COVERAGE``); None when it is used, or there is none.
    ``refreshes``: this process retrains a head that knows some of them by itself."""
    from backend.search.service import HeadCoverage

    if head is None:
        return None
    coverage = HeadCoverage().of(index, head)
    if coverage is None or coverage.enough:
        return None
    said = (
        f"note: fusion head {head.name} was trained on {coverage.known} of the "
        f"{coverage.points} indexed products, so hybrid search leaves its fused vector out"
    )
    if refreshes and coverage.known > 0:
        return f"{said} until the head this server is training on the whole catalog serves"
    return (
        f"{said}; train one on this catalog with `vitrine train-fusion`, run "
        "`VITRINE_FUSION_HEAD=<its checkpoint> vitrine reindex` and serve with that setting"
    )


def reindex_into(
    settings: Settings,
    *,
    progress: Callable[[int], object] | None = None,
    on_start: Callable[[int], object] | None = None,
) -> int:
    """Rebuild the index from the catalog for the current encoders and fusion head, in place.

    Offline (``vitrine reindex --offline``; ``loaders.reindex`` rebuilds beside the serving
    version instead): the old collection is deleted first, so search has no index until this ends
    (the server must be stopped in embedded mode anyway). Interrupted, it leaves the
    remaining products pending, and running it again (or any load) completes them.
    """
    with opened(settings, check_collection=False) as deployment:
        deployment.index.drop()
        deployment.index.ensure_collection(deployment.spec)
        with session_scope(deployment.sessions) as session:
            pending = catalog.mark_all_unindexed(session=session)
        if on_start is not None:
            on_start(pending)
        done = index_pending(
            sessions=deployment.sessions,
            index=deployment.index,
            encoders=deployment.encoders,
            settings=settings,
            progress=progress,
        )
        if done:
            deployment.index.optimize()
        return done
