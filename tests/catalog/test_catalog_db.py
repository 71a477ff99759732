"""Engines, sessions and the Flask hook of the catalog database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from backend.catalog import db, service
from backend.catalog.models import Product
from backend.settings import Settings
from tests.catalog.factories import product


def test_postgresql_urls_use_psycopg_3():
    assert db.database_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert db.database_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert db.database_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"
    assert db.database_url("sqlite:///x.db").drivername == "sqlite"


def test_a_sqlite_catalog_gets_its_folder_foreign_keys_and_wal(tmp_path):
    path = tmp_path / "deep" / "er" / "vitrine.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert path.exists()
    finally:
        engine.dispose()


def test_session_scope_commits_or_rolls_back(sessions):
    with db.session_scope(sessions) as session:
        service.upsert_product(session=session, data=product("kept"))
    with pytest.raises(RuntimeError):
        with db.session_scope(sessions) as session:
            service.upsert_product(session=session, data=product("dropped"))
            raise RuntimeError("load failed")
    with sessions() as session:
        assert session.scalars(sa.select(Product.sku)).all() == ["kept"]


def test_flask_app_gets_one_session_per_request(db_url, tmp_path):
    db.migrate(db_url)
    app = Flask(__name__)
    app.config["VITRINE_SETTINGS"] = Settings(var_dir=tmp_path, database_url=db_url)
    db.init_app(app)
    assert db.get_catalog(app).engine.url.drivername in {"sqlite", "postgresql+psycopg"}

    with app.app_context():
        session = db.get_session()
        assert db.get_session() is session
        service.upsert_product(session=session, data=product("uncommitted"))
        assert session.in_transaction()
    # Teardown closed the session, dropping what the request did not commit.
    assert not session.in_transaction()

    with app.app_context():
        other = db.get_session()
        assert other is not session
        assert service.count_products(session=other) == 0
        service.upsert_product(session=other, data=product("committed"))
        other.commit()

    with app.app_context():
        assert service.get_product(session=db.get_session(), sku="committed").title == "T-shirt"
    db.get_catalog(app).engine.dispose()
