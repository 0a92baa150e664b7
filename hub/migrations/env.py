"""Alembic environment for the hub: ``hub_``, ``sync_`` and ``acct_`` tables.

Run through :meth:`shared.storage.migrations.Migrations.upgrade`, which passes the connection in
``config.attributes["connection"]``; there is no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

import hub.consultation_models
import hub.hall_models
import hub.models
import hub.online_hall_models
import hub.privacy.tables
import hub.releases  # noqa: F401
import shared.storage.accounts
import shared.storage.record_views
import shared.storage.sync_store  # noqa: F401
from hub.db_session import MIGRATIONS
from shared.storage.db import Base

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=MIGRATIONS.include_object,
        render_as_batch=True,
        version_table="hub_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the hub's migrations run online only")
run_migrations_online()
