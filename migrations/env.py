"""Alembic environment for peerbot.

The URL comes from, in order: a connection handed over by :mod:`peerbot.store.migrate`
(``config.attributes["connection"]``), ``-x url=...`` or ``sqlalchemy.url`` in alembic.ini, and
finally peerbot's Settings (``DATABASE_URL``). SQLite migrations run in batch mode.
"""

from __future__ import annotations

import logging.config
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from peerbot.store.db import create_engine_for, normalize_url
from peerbot.store.models import Base
from peerbot.store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata

# Only configure logging when run from the alembic command line, never inside the app or tests.
if config.config_file_name is not None and "connection" not in config.attributes:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render peerbot's column types as plain SQLAlchemy types in migration scripts."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate leaves slack_sdk's installation tables alone (migration 0011 made them;
    ``peerbot.store.migrate.check_drift`` compares them against slack_sdk's definitions)."""
    from peerbot.store.installations import SLACK_METADATA

    return not (type_ == "table" and name in SLACK_METADATA.tables)


def _database_url() -> str:
    x_url = context.get_x_argument(as_dictionary=True).get("url")
    if x_url:
        return x_url
    ini_url = config.get_main_option("sqlalchemy.url")
    if ini_url:
        return ini_url
    from peerbot.config import load_settings

    return load_settings().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_name=_include_name,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    url = normalize_url(_database_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on a live connection (handed over, or opened here)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine_for(_database_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
