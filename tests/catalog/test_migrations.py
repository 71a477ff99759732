"""Migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from backend.catalog import db
from backend.catalog.models import Base
from backend.errors import ConfigurationError


def schema_diff(url):
    engine = db.make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_migrated_database_matches_the_models(db_url):
    db.migrate(db_url)
    assert schema_diff(db_url) == []


def test_migrate_reports_and_reaches_the_newest_revision(db_url, tmp_path, monkeypatch):
    assert db.current_revision(db_url) is None
    assert not db.is_up_to_date(db_url)
    with pytest.raises(ConfigurationError, match="not 0002_admin"):
        db.require_up_to_date(db_url)

    monkeypatch.chdir(tmp_path)  # the migrations are found from any working directory
    db.migrate(db_url)
    db.migrate(db_url)  # a second run has nothing to do

    assert db.current_revision(db_url) == db.head_revision() == "0002_admin"
    assert db.is_up_to_date(db_url)
    db.require_up_to_date(db_url)


def test_downgrade_removes_the_tables(db_url):
    db.migrate(db_url)
    command.downgrade(db.alembic_config(db_url), "base")
    engine = db.make_engine(db_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    db.migrate(db_url)
    assert schema_diff(db_url) == []
