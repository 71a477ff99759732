"""The SQL catalog, source of truth for products; the vector index is derived from it.

``Product.content_hash`` is the hash of what a catalog row said, ``indexed_hash`` the hash
whose vectors are in the index: a product is indexed iff the two are equal.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def _new_job_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored and read back as aware UTC, also on SQLite (which drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: catalog timestamps must be aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base; the naming convention gives Alembic stable constraint names."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class Product(Base):
    """One product of the catalog, keyed by its sku."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(128), unique=True)
    title: Mapped[str] = mapped_column(sa.String(512))
    titles: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    brand: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    price: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    in_stock: Mapped[bool] = mapped_column(sa.Boolean)
    stock: Mapped[int | None] = mapped_column()
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source_id: Mapped[str | None] = mapped_column(sa.String(128))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    indexed_hash: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product",
        order_by="ProductImage.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def indexed(self) -> bool:
        """Whether the index holds vectors of the current content."""
        return self.indexed_hash is not None and self.indexed_hash == self.content_hash

    def __repr__(self) -> str:
        return f"<Product {self.sku!r}>"


class ProductImage(Base):
    """One image of a product, stored content-addressed in the media folder."""

    __tablename__ = "product_images"
    __table_args__ = (sa.UniqueConstraint("product_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    source: Mapped[str] = mapped_column(sa.String(1024))
    path: Mapped[str] = mapped_column(sa.String(512))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    content_type: Mapped[str] = mapped_column(sa.String(64))

    product: Mapped[Product] = relationship(back_populates="images")

    def __repr__(self) -> str:
        return f"<ProductImage {self.product_id}#{self.position} {self.path!r}>"


class LoadJob(Base):
    """One catalog load (admin upload or CLI run): its state, counts and rejected rows."""

    __tablename__ = "load_jobs"
    __table_args__ = (
        sa.CheckConstraint(
            "state IN ({})".format(", ".join(f"'{s}'" for s in JOB_STATES)), name="state"
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=_new_job_id)
    source: Mapped[str] = mapped_column(sa.String(1024))
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")
    received: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    # [{"line": int | None, "sku": str | None, "reason": str}], see schema.RowError
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # Uploaded files kept (under the uploads folder) until the job ends, so that a job
    # interrupted by a restart can read them again.
    catalog_file: Mapped[str | None] = mapped_column(sa.String(1024))
    images_file: Mapped[str | None] = mapped_column(sa.String(1024))
    # Rows of the file fully handled (stored and counted, or reported): a resumed job
    # starts after them. Saved in the transaction that stores their batch.
    checkpoint: Mapped[int] = mapped_column(default=0, server_default="0")
    # Rows in the uploaded file, counted when the job starts (for its progress).
    total: Mapped[int | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<LoadJob {self.id} {self.state}>"


class AdminToken(Base):
    """An API token for the admin routes; only the sha256 of the secret is kept."""

    __tablename__ = "admin_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    @property
    def revoked(self) -> bool:
        """Whether the token has been revoked (it then answers 403)."""
        return self.revoked_at is not None

    def __repr__(self) -> str:
        return f"<AdminToken {self.name!r}{' revoked' if self.revoked else ''}>"
