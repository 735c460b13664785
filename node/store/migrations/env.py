"""Alembic environment for the node store.

Used two ways: by `node.store.open_store` (which passes its own connection in
`config.attributes["connection"]`), and by the `alembic` command line with alembic.ini, where the
URL comes from `-x url=...`, then ROLLPROOF_STORE_URL, then alembic.ini.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from node.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Command-line use: configure logging from alembic.ini and build an engine like the node does.
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    from node.store.database import create_store_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("ROLLPROOF_STORE_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
