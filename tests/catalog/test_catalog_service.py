"""The catalog service on a migrated database, SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid
from datetime import UTC
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend.catalog import service
from backend.catalog.db import session_scope
from backend.catalog.models import LoadJob, Product, ProductImage
from backend.catalog.schema import row_error
from backend.errors import InvalidCatalogRow, NotFound, ProductNotFound
from tests.catalog.factories import image, product


def load(sessions, *items):
    """Upsert products in one committed transaction; the outcomes by sku."""
    with session_scope(sessions) as session:
        return {d.sku: service.upsert_product(session=session, data=d)[0] for d in items}


def image_rows(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(ProductImage))


def test_upsert_creates_a_product(sessions):
    assert load(sessions, product("tee-1")) == {"tee-1": "created"}

    with sessions() as session:
        stored = service.get_product(session=session, sku="tee-1")
        assert stored.title == "T-shirt"
        assert stored.titles == {"zh": "T恤"}
        assert stored.price == Decimal("19.99")
        assert stored.currency == "USD"
        assert stored.in_stock is True and stored.stock == 12
        assert stored.keywords == ["t-shirt", "shirt"]
        assert stored.attributes == {"size": "M", "colour": "blue"}
        assert stored.source_id == "1F455"
        assert stored.content_hash == product("tee-1").content_hash()
        assert [(i.position, i.path) for i in stored.images] == [
            (0, image("tee-front").path),
            (1, image("tee-back").path),
        ]
        assert stored.indexed_hash is None and not stored.indexed
        assert stored.created_at.tzinfo is not None
        assert stored.created_at.utcoffset() == UTC.utcoffset(None)


def test_loading_the_same_row_again_changes_nothing(sessions):
    load(sessions, product("tee-1"))
    with sessions() as session:
        before = service.get_product(session=session, sku="tee-1").updated_at

    assert load(sessions, product("tee-1")) == {"tee-1": "unchanged"}
    with sessions() as session:
        assert service.get_product(session=session, sku="tee-1").updated_at == before


def test_a_new_price_updates_the_product_and_makes_it_stale(sessions):
    load(sessions, product("tee-1"))
    with session_scope(sessions) as session:
        service.mark_indexed(session=session, hashes={"tee-1": product("tee-1").content_hash()})

    assert load(sessions, product("tee-1", price=Decimal("17.50"))) == {"tee-1": "updated"}
    with sessions() as session:
        stored = service.get_product(session=session, sku="tee-1")
        assert stored.price == Decimal("17.50")
        assert stored.indexed_hash == product("tee-1").content_hash()  # what the index holds
        assert stored.indexed_hash != stored.content_hash
        assert not stored.indexed
        assert stored.updated_at > stored.created_at
        assert [p.sku for p in service.products_needing_index(session=session)] == ["tee-1"]


def test_images_are_replaced_on_update(sessions):
    load(sessions, product("tee-1"))
    new_images = [image("tee-side"), image("tee-front"), image("tee-label")]
    assert load(sessions, product("tee-1", images=new_images)) == {"tee-1": "updated"}
    with sessions() as session:
        stored = service.get_product(session=session, sku="tee-1")
        assert [(i.position, i.sha256) for i in stored.images] == [
            (n, img.sha256) for n, img in enumerate(new_images)
        ]

    assert load(sessions, product("tee-1", images=[image("tee-back")])) == {"tee-1": "updated"}
    with sessions() as session:
        stored = service.get_product(session=session, sku="tee-1")
        assert [i.sha256 for i in stored.images] == [image("tee-back").sha256]
        assert image_rows(session) == 1


def test_sku_is_unique(session):
    for _ in range(2):
        session.add(
            Product(sku="tee-1", title="T-shirt", currency="USD", in_stock=True, content_hash="0")
        )
    with pytest.raises(IntegrityError):
        session.flush()


def test_an_unknown_sku_is_product_not_found(session):
    with pytest.raises(ProductNotFound) as raised:
        service.get_product(session=session, sku="nope")
    assert raised.value.sku == "nope"
    assert raised.value.status == 404
    with pytest.raises(ProductNotFound):
        service.delete_product(session=session, sku="nope")


def test_get_products_returns_the_requested_skus_that_exist(sessions):
    load(sessions, product("a"), product("b"), product("c"))
    with sessions() as session:
        found = service.get_products(session=session, skus=["c", "missing", "a", "c"])
        assert set(found) == {"a", "c"}
        # Hydrating hits keeps the index's order and skips the orphan.
        hits = ["c", "missing", "a"]
        assert [found[s].sku for s in hits if s in found] == ["c", "a"]
        assert [i.position for i in found["a"].images] == [0, 1]
        assert service.get_products(session=session, skus=[]) == {}


def test_listing_filters_by_category_and_brand(sessions):
    load(
        sessions,
        product("p3", category="clothing", brand="Acme"),
        product("p1", category="clothing", brand="Zeta"),
        product("p2", category="food", brand="Acme"),
        product("p4", category="toys", brand=None),
        product("p5", category=None, brand="Zeta"),
    )
    with sessions() as session:

        def skus(**filters):
            return [p.sku for p in service.list_products(session=session, **filters)]

        assert skus() == ["p1", "p2", "p3", "p4", "p5"]
        assert skus(categories=["clothing"]) == ["p1", "p3"]
        assert skus(categories=["clothing", "food"]) == ["p1", "p2", "p3"]
        assert skus(brands=["Zeta"]) == ["p1", "p5"]
        assert skus(categories=["clothing"], brands=["Acme"]) == ["p3"]
        assert skus(limit=2, offset=1) == ["p2", "p3"]
        assert skus(categories=["nothing"]) == []

        assert service.count_products(session=session) == 5
        assert service.count_products(session=session, categories=["clothing", "food"]) == 3
        assert service.count_products(session=session, brands=["Acme", "Zeta"]) == 4
        assert service.count_products(session=session, categories=["toys"], brands=["Acme"]) == 0


def test_mark_indexed_tracks_what_the_index_holds(sessions):
    items = [product(f"p{n}", title=f"Product {n}") for n in range(4)]
    load(sessions, *items)
    with session_scope(sessions) as session:
        assert len(service.products_needing_index(session=session)) == 4
        assert [p.sku for p in service.products_needing_index(session=session, limit=2)] == [
            "p0",
            "p1",
        ]
        assert service.count_indexed(session=session) == 0

        batch = service.products_needing_index(session=session, limit=2)
        service.mark_indexed(session=session, hashes={p.sku: p.content_hash for p in batch})
        # Loaded objects see the new value too.
        assert all(p.indexed for p in batch)
        # A hash that is not (or no longer) the product's content changes nothing.
        service.mark_indexed(session=session, hashes={"p2": "f" * 64, "missing": "0" * 64})

    with sessions() as session:
        assert service.count_indexed(session=session) == 2
        assert [p.sku for p in service.products_needing_index(session=session)] == ["p2", "p3"]
        assert service.get_product(session=session, sku="p2").indexed_hash is None


def test_indexing_an_old_version_does_not_mark_the_new_one(sessions):
    load(sessions, product("tee-1"))
    old_hash = product("tee-1").content_hash()
    load(sessions, product("tee-1", title="T-shirt, organic"))
    with session_scope(sessions) as session:
        service.mark_indexed(session=session, hashes={"tee-1": old_hash})
    with sessions() as session:
        assert service.count_indexed(session=session) == 0
        assert service.get_product(session=session, sku="tee-1").indexed_hash is None


def test_deleting_a_product_deletes_its_images(sessions):
    load(sessions, product("tee-1"), product("tee-2"))
    with session_scope(sessions) as session:
        service.delete_product(session=session, sku="tee-1")
    with sessions() as session:
        with pytest.raises(ProductNotFound):
            service.get_product(session=session, sku="tee-1")
        assert image_rows(session) == 2

    # The database cascades too (foreign keys are on for SQLite): a plain DELETE.
    with session_scope(sessions) as session:
        session.execute(sa.delete(Product).where(Product.sku == "tee-2"))
    with sessions() as session:
        assert image_rows(session) == 0


def test_a_load_job_goes_from_queued_to_finished(sessions):
    with session_scope(sessions) as session:
        job = service.create_job(session=session, source="catalog.csv")
        job_id = job.id
    assert uuid.UUID(job_id).version == 4

    with session_scope(sessions) as session:
        job = service.get_job(session=session, job_id=job_id)
        assert (job.state, job.source, job.received, job.errors) == ("queued", "catalog.csv", 0, [])
        assert job.started_at is None and job.finished_at is None
        service.start_job(session=session, job=job)
        service.record_progress(session=session, job=job, received=10, created=4)

    with session_scope(sessions) as session:
        job = service.get_job(session=session, job_id=job_id)
        assert (job.state, job.received, job.created) == ("running", 10, 4)
        bad = InvalidCatalogRow("price must be a number, not 'x'", line=3, sku="tee-3")
        service.finish_job(
            session=session,
            job=job,
            state="succeeded",
            received=12,
            created=8,
            updated=1,
            unchanged=2,
            failed=1,
            errors=[row_error(bad)],
        )

    with sessions() as session:
        job = service.get_job(session=session, job_id=job_id)
        assert job.state == "succeeded"
        counts = (job.received, job.created, job.updated, job.unchanged, job.failed)
        assert counts == (12, 8, 1, 2, 1)
        assert job.errors == [
            {"line": 3, "sku": "tee-3", "reason": "price must be a number, not 'x'"}
        ]
        assert job.message is None
        assert job.created_at <= job.started_at <= job.finished_at
        assert job.finished_at.tzinfo is not None


def test_a_failed_job_keeps_its_counts_and_says_why(sessions):
    with session_scope(sessions) as session:
        job = service.create_job(session=session, source="catalog.jsonl")
        service.record_progress(session=session, job=job, received=5, created=5)
        service.finish_job(session=session, job=job, state="failed", message="index locked")
        job_id = job.id
    with sessions() as session:
        job = service.get_job(session=session, job_id=job_id)
        assert (job.state, job.received, job.created, job.message) == (
            "failed",
            5,
            5,
            "index locked",
        )
        assert job.started_at == job.finished_at


def test_an_unknown_job_is_not_found(session):
    with pytest.raises(NotFound) as raised:
        service.get_job(session=session, job_id=str(uuid.uuid4()))
    assert not isinstance(raised.value, ProductNotFound)
    job = service.create_job(session=session, source="x.csv")
    with pytest.raises(ValueError):
        service.finish_job(session=session, job=job, state="running")  # type: ignore[arg-type]


def test_the_database_rejects_an_unknown_job_state(session):
    session.add(LoadJob(source="x.csv", state="paused"))
    with pytest.raises(IntegrityError):
        session.flush()
