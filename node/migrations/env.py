"""Alembic environment for the node: only ``node_`` tables, batch mode on SQLite.

Run through :func:`node.db_session.upgrade_database`, which passes the engine's connection
in ``config.attributes["connection"]``; there is no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

import node.models  # noqa: F401  (registers the node's tables on the metadata)
import shared.storage.accounts
import shared.storage.record_views
import shared.storage.sync_store  # noqa: F401  (the shared sync tables)
from node.db_session import include_object
from shared.storage.db import Base

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=True,
        version_table="node_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the node's migrations run online only")
run_migrations_online()
