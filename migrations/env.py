"""Alembic environment for the Vitrine catalog.

The URL is the Config's ``sqlalchemy.url`` (set by ``backend.catalog.db.migrate``), else
``VITRINE_DATABASE_URL``, else the settings default. SQLite runs in batch mode, since it
cannot ALTER most things in place.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context

from backend.catalog.db import prepared_url
from backend.catalog.models import Base, UTCDateTime
from backend.settings import Settings

config = context.config
if config.config_file_name is not None:  # the alembic command line; migrate() logs nothing
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def _url() -> sa.URL:
    return prepared_url(
        config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    )


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # New revisions should not import the app's TypeDecorator; it is a plain aware timestamp.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options(url: sa.URL) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "render_as_batch": url.get_backend_name() == "sqlite",
        "render_item": _render_item,
        "compare_type": True,
    }


def run_migrations_offline() -> None:
    url = _url()
    context.configure(url=url, literal_binds=True, **_options(url))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    # A plain engine: on SQLite foreign keys stay off here, so batch mode's table copies
    # cannot cascade deletes into child tables.
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **_options(url))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
