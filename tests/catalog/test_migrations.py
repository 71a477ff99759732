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
    with pytest.raises(ConfigurationError, match="not 0003_job_control"):
        db.require_up_to_date(db_url)

    monkeypatch.chdir(tmp_path)  # the migrations are found from any working directory
    db.migrate(db_url)
    db.migrate(db_url)  # a second run has nothing to do

    assert db.current_revision(db_url) == db.head_revision() == "0003_job_control"
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


def test_jobs_can_be_cancelled_after_the_upgrade_and_states_stay_checked(db_url):
    db.migrate(db_url)
    engine = db.make_engine(db_url)
    insert = sa.text(
        "INSERT INTO load_jobs (id, source, state, received, created, updated, unchanged,"
        " failed, errors, created_at) VALUES (:id, 'a.csv', :state, 0, 0, 0, 0, 0, '[]',"
        " CURRENT_TIMESTAMP)"
    )
    try:
        with engine.begin() as connection:
            connection.execute(insert, {"id": "j1", "state": "cancelled"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(insert, {"id": "j2", "state": "paused"})
        command.downgrade(db.alembic_config(db_url), "0002_admin")  # cancelled becomes failed
        with engine.connect() as connection:
            state = connection.scalar(sa.text("SELECT state FROM load_jobs WHERE id = 'j1'"))
        assert state == "failed"
    finally:
        engine.dispose()
