"""Catalog database plumbing: engines, sessions, Alembic migrations and the Flask hook.

SQLite (the default, a file under ``var/``) and PostgreSQL (``postgresql://`` URLs, driven
by psycopg 3) are both supported. The schema is created by migrations only, never
``create_all``: the ``vitrine`` command migrates, the app checks nothing at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
EXTENSION = "vitrine_catalog"
_G_SESSION = "vitrine_catalog_session"


def database_url(url: str | URL) -> URL:
    """The URL to connect with: ``postgresql://`` and ``postgres://`` go through psycopg 3."""
    parsed = sa.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory and other databases."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database)


def prepared_url(url: str | URL) -> URL:
    """``database_url(url)``, with the folder of a SQLite file created."""
    parsed = database_url(url)
    path = _sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return parsed


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets the server read while a loader writes; in-memory databases ignore it.
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def make_engine(url: str | URL) -> Engine:
    """An engine for the catalog at ``url`` (SQLite: folder created, foreign keys and WAL on)."""
    parsed = prepared_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``.

    Objects stay loaded after commit: loaders commit a batch and then encode its products.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# Migrations ------------------------------------------------------------------------------


def alembic_config(url: str | URL) -> Config:
    """An Alembic Config for the repository's migrations and the database at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    rendered = database_url(url).render_as_string(hide_password=False)
    # Config values go through configparser interpolation: a %-escaped password needs %%.
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(url: str | URL) -> None:
    """Upgrade the database at ``url`` to the newest schema (``alembic upgrade head``)."""
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    """The newest migration in the repository."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str | URL) -> str | None:
    """The migration the database at ``url`` is at (None: not migrated at all)."""
    parsed = database_url(url)
    path = _sqlite_file(parsed)
    if path is not None and not path.exists():
        return None  # and do not create an empty file by looking
    engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def is_up_to_date(url: str | URL) -> bool:
    """Whether the database at ``url`` is at the newest migration."""
    return current_revision(url) == head_revision()


def require_up_to_date(url: str | URL) -> None:
    """Raise ConfigurationError, saying what to do, unless the database is fully migrated."""
    current, head = current_revision(url), head_revision()
    if current != head:
        shown = database_url(url).render_as_string(hide_password=True)
        raise ConfigurationError(
            f"catalog database {shown} is at migration {current or 'none'}, not {head}: "
            "migrate it first (backend.catalog.db.migrate, which the vitrine command runs)"
        )


# Flask -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """What ``init_app`` keeps in ``app.extensions``: the engine and its session factory."""

    engine: Engine
    sessionmaker: sessionmaker[Session]


def init_app(app: Flask) -> None:
    """Open the catalog of ``app.config["VITRINE_SETTINGS"]``; close sessions at teardown."""
    settings = app.config["VITRINE_SETTINGS"]
    engine = make_engine(settings.database_url)
    app.extensions[EXTENSION] = Catalog(engine=engine, sessionmaker=make_sessionmaker(engine))
    app.teardown_appcontext(_close_session)


def get_catalog(app: Flask | None = None) -> Catalog:
    """The catalog engine and session factory of ``app`` (default: the current app)."""
    target = current_app if app is None else app
    catalog: Catalog = target.extensions[EXTENSION]
    return catalog


def get_session() -> Session:
    """This request's session, created on first use and closed at teardown (commit yourself)."""
    session: Session | None = g.get(_G_SESSION)
    if session is None:
        session = get_catalog().sessionmaker()
        setattr(g, _G_SESSION, session)
    return session


def _close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop(_G_SESSION, None)
    if session is not None:
        session.close()  # rolls back whatever the request did not commit
