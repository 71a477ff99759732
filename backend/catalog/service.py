"""Reads and writes of the catalog: every query the app and the loaders run lives here.

Functions take the session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from backend.catalog.models import LoadJob, Product, ProductImage, utcnow
from backend.catalog.schema import ImageData, ProductData, RowError
from backend.errors import NotFound, ProductNotFound

UpsertOutcome = Literal["created", "updated", "unchanged"]

# Bound parameters per IN (...) list; SQLite allows 32766, PostgreSQL 65535.
_CHUNK = 1000


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _filtered(
    stmt: sa.Select[tuple[Product]], categories: Collection[str], brands: Collection[str]
) -> sa.Select[tuple[Product]]:
    if categories:
        stmt = stmt.where(Product.category.in_(list(categories)))
    if brands:
        stmt = stmt.where(Product.brand.in_(list(brands)))
    return stmt


# Products --------------------------------------------------------------------------------


def get_product(*, session: Session, sku: str) -> Product:
    """The product with ``sku`` and its images; ProductNotFound if there is none."""
    stmt = sa.select(Product).where(Product.sku == sku).options(selectinload(Product.images))
    product = session.scalars(stmt).one_or_none()
    if product is None:
        raise ProductNotFound(sku)
    return product


def get_products(*, session: Session, skus: Sequence[str]) -> dict[str, Product]:
    """The products of ``skus`` that exist, by sku (to hydrate hits in the index's order)."""
    wanted = list(dict.fromkeys(skus))
    found: dict[str, Product] = {}
    for chunk in _chunks(wanted):
        stmt = (
            sa.select(Product).where(Product.sku.in_(chunk)).options(selectinload(Product.images))
        )
        found.update((p.sku, p) for p in session.scalars(stmt))
    return found


def list_products(
    *,
    session: Session,
    categories: Collection[str] = (),
    brands: Collection[str] = (),
    limit: int | None = 20,
    offset: int = 0,
) -> list[Product]:
    """A page of products ordered by sku (``limit=None``: all from ``offset`` on); several
    categories (or brands) mean any of them."""
    stmt = _filtered(sa.select(Product), categories, brands)
    stmt = stmt.order_by(Product.sku).limit(limit).offset(offset)
    return list(session.scalars(stmt.options(selectinload(Product.images))))


def count_products(
    *, session: Session, categories: Collection[str] = (), brands: Collection[str] = ()
) -> int:
    """How many products match the category and brand filters."""
    stmt = _filtered(sa.select(Product), categories, brands)
    counted = sa.select(sa.func.count()).select_from(stmt.subquery())
    return session.execute(counted).scalar_one()


def _image_fields(image: ImageData) -> dict[str, object]:
    return {
        "source": image.source,
        "path": image.path,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "content_type": image.content_type,
    }


def _replace_images(product: Product, images: Sequence[ImageData]) -> None:
    # Rows are rewritten in place by position: deleting and re-adding them would make the
    # flush insert the new rows before deleting the old, breaking unique(product_id, position).
    current = list(product.images)
    for position, image in enumerate(images):
        if position < len(current):
            row = current[position]
            for name, value in _image_fields(image).items():
                setattr(row, name, value)
        else:
            product.images.append(ProductImage(position=position, **_image_fields(image)))
    del product.images[len(images) :]


def _apply(product: Product, data: ProductData, content_hash: str) -> None:
    product.title = data.title
    product.titles = dict(data.titles)
    product.description = data.description
    product.category = data.category
    product.brand = data.brand
    product.price = data.price
    product.currency = data.currency
    product.in_stock = data.in_stock
    product.stock = data.stock
    product.keywords = list(data.keywords)
    product.attributes = dict(data.attributes)
    product.source_id = data.source_id
    product.content_hash = content_hash
    _replace_images(product, data.images)


def upsert_product(*, session: Session, data: ProductData) -> tuple[UpsertOutcome, Product]:
    """Store ``data`` under its sku: created, updated (content changed) or unchanged."""
    return upsert_products(session=session, items=[data])[0]


def upsert_products(
    *, session: Session, items: Sequence[ProductData]
) -> list[tuple[UpsertOutcome, Product]]:
    """Store a batch (distinct skus) with one read and one flush; outcomes in input order."""
    existing = get_products(session=session, skus=[data.sku for data in items])
    results: list[tuple[UpsertOutcome, Product]] = []
    for data in items:
        content_hash = data.content_hash()
        product = existing.get(data.sku)
        if product is None:
            product = Product(sku=data.sku, images=[])
            _apply(product, data, content_hash)
            session.add(product)
            results.append(("created", product))
        elif product.content_hash == content_hash:
            results.append(("unchanged", product))
        else:
            _apply(product, data, content_hash)
            # indexed_hash stays: the index still holds the old content until mark_indexed.
            product.updated_at = utcnow()
            results.append(("updated", product))
    session.flush()
    return results


def mark_indexed(*, session: Session, hashes: Mapping[str, str]) -> None:
    """Record that the index now holds ``content_hash`` for each sku (unless it changed since)."""
    if not hashes:
        return
    stmt = (
        sa.update(Product)
        .where(Product.sku == sa.bindparam("b_sku"))
        .where(Product.content_hash == sa.bindparam("b_hash"))
        .values(indexed_hash=sa.bindparam("b_hash"))
    )
    session.flush()
    # One executemany on the connection: the ORM's bulk UPDATE would want primary keys.
    params = [{"b_sku": sku, "b_hash": h} for sku, h in hashes.items()]
    session.connection().execute(stmt, params)
    # The UPDATE bypassed the ORM: have loaded products read indexed_hash afresh.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Product) and obj.sku in hashes:
            session.expire(obj, ["indexed_hash"])


def mark_all_unindexed(*, session: Session) -> int:
    """Forget what the index holds (before a rebuild); how many products are now pending."""
    result = session.execute(sa.update(Product).values(indexed_hash=None))
    return int(getattr(result, "rowcount", 0) or 0)


def _not_indexed() -> sa.ColumnElement[bool]:
    return sa.or_(Product.indexed_hash.is_(None), Product.indexed_hash != Product.content_hash)


def products_needing_index(*, session: Session, limit: int | None = None) -> list[Product]:
    """Products whose vectors are missing or stale, ordered by sku, with their images."""
    stmt = (
        sa.select(Product)
        .where(_not_indexed())
        .order_by(Product.sku)
        .options(selectinload(Product.images))
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def index_states(*, session: Session) -> dict[str, tuple[str, str | None]]:
    """Every product's ``(content_hash, indexed_hash)`` by sku (what reconcile compares)."""
    stmt = sa.select(Product.sku, Product.content_hash, Product.indexed_hash)
    return {sku: (content, indexed) for sku, content, indexed in session.execute(stmt)}


def set_indexed_hashes(*, session: Session, hashes: Mapping[str, str]) -> None:
    """Record what a freshly built index holds: ``hashes[sku]``, or nothing for other skus."""
    session.flush()
    session.execute(sa.update(Product).values(indexed_hash=None))
    if hashes:
        stmt = (
            sa.update(Product)
            .where(Product.sku == sa.bindparam("b_sku"))
            .values(indexed_hash=sa.bindparam("b_hash"))
        )
        params = [{"b_sku": sku, "b_hash": h} for sku, h in hashes.items()]
        session.connection().execute(stmt, params)
    session.expire_all()


def count_indexed(*, session: Session) -> int:
    """How many products have vectors of their current content in the index."""
    stmt = sa.select(sa.func.count()).where(Product.indexed_hash == Product.content_hash)
    return session.execute(stmt).scalar_one()


def delete_product(*, session: Session, sku: str) -> None:
    """Remove the product with ``sku`` and its images; ProductNotFound if there is none."""
    session.delete(get_product(session=session, sku=sku))
    session.flush()


# Load jobs -------------------------------------------------------------------------------


def create_job(*, session: Session, source: str) -> LoadJob:
    """A new queued load job for ``source`` (a file name or URL)."""
    job = LoadJob(source=source, state="queued", errors=[])
    session.add(job)
    session.flush()
    return job


def get_job(*, session: Session, job_id: str) -> LoadJob:
    """The load job ``job_id``; NotFound if there is none."""
    job = session.get(LoadJob, job_id)
    if job is None:
        raise NotFound(f"no load job {job_id!r}")
    return job


def start_job(*, session: Session, job: LoadJob) -> LoadJob:
    """Mark ``job`` running."""
    job.state = "running"
    job.started_at = utcnow()
    session.flush()
    return job


def record_progress(
    *,
    session: Session,
    job: LoadJob,
    received: int | None = None,
    created: int | None = None,
    updated: int | None = None,
    unchanged: int | None = None,
    failed: int | None = None,
    errors: Sequence[RowError] | None = None,
) -> LoadJob:
    """Set the counts and rejected rows given (the others stay) of a running or finished job."""
    counts = {
        "received": received,
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "failed": failed,
    }
    for name, value in counts.items():
        if value is not None:
            setattr(job, name, value)
    if errors is not None:
        job.errors = [dict(e) for e in errors]
    session.flush()
    return job


def finish_job(
    *,
    session: Session,
    job: LoadJob,
    state: Literal["succeeded", "failed"],
    received: int | None = None,
    created: int | None = None,
    updated: int | None = None,
    unchanged: int | None = None,
    failed: int | None = None,
    errors: Sequence[RowError] | None = None,
    message: str | None = None,
) -> LoadJob:
    """Mark ``job`` succeeded or failed, with its final counts, rejected rows and message."""
    if state not in ("succeeded", "failed"):
        raise ValueError(f"a job finishes as succeeded or failed, not {state!r}")
    record_progress(
        session=session,
        job=job,
        received=received,
        created=created,
        updated=updated,
        unchanged=unchanged,
        failed=failed,
        errors=errors,
    )
    job.state = state
    job.message = message
    job.finished_at = utcnow()
    if job.started_at is None:
        job.started_at = job.finished_at
    session.flush()
    return job
