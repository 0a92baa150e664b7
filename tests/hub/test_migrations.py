"""The hub's schema comes from Alembic only: the models agree with the migrations, on SQLite
and PostgreSQL, and the latest step goes down and up again cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import hub.models  # noqa: F401 - the hub's tables on Base.metadata
from hub.db_session import MIGRATIONS
from shared.db import Base, make_engine


def test_models_and_migrations_agree(db_url: str) -> None:
    engine = make_engine(db_url)
    MIGRATIONS.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": MIGRATIONS.include_object,
                  "version_table": "hub_alembic_version"},
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_the_account_revision_goes_down_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    MIGRATIONS.upgrade(engine)
    config = MIGRATIONS.config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    assert "revision" not in {c["name"] for c in inspect(engine).get_columns("acct_users")}
    MIGRATIONS.upgrade(engine)
    assert "revision" in {c["name"] for c in inspect(engine).get_columns("acct_users")}
    engine.dispose()
