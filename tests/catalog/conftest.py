"""Fixtures for the catalog tests: a migrated database, SQLite or PostgreSQL, and sessions.

``postgres_url`` comes from ``tests/conftest.py``.
"""

from __future__ import annotations

import pytest

from backend.catalog.db import make_engine, make_sessionmaker, migrate


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty catalog database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'vitrine.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url):
    """An engine on the migrated database."""
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    """The session factory, for tests that look again from a fresh session."""
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessions):
    """A session on the migrated database, closed (uncommitted work rolled back) at the end."""
    with sessions() as session:
        yield session
