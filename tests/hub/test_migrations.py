"""The hub's schema comes from Alembic only, on SQLite (the demo) and PostgreSQL (production):
the migrations build what the models describe, and each step goes down and up again without
losing the rows it does not touch."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

# the modules whose tables the hub's migrations build, as hub/migrations/env.py imports them
import hub.consultation_models
import hub.hall_models
import hub.models
import hub.online_hall_models
import hub.privacy.tables
import hub.releases  # noqa: F401
import shared.storage.accounts
import shared.storage.sync_store  # noqa: F401
from hub.db_session import MIGRATIONS
from shared.storage.db import Base

VERSION_TABLE = "hub_alembic_version"


def _downgrade(engine: Engine, revision: str) -> None:
    config = MIGRATIONS.config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _site_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("hub_sites")}


def test_models_and_migrations_agree(db_engine: Engine) -> None:
    MIGRATIONS.upgrade(db_engine)
    with db_engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": MIGRATIONS.include_object, "version_table": VERSION_TABLE},
        )
        assert compare_metadata(context, Base.metadata) == []


def test_the_account_revision_goes_down_and_up_again(db_engine: Engine) -> None:
    MIGRATIONS.upgrade(db_engine)
    _downgrade(db_engine, "0002")
    assert "revision" not in {c["name"] for c in inspect(db_engine).get_columns("acct_users")}
    MIGRATIONS.upgrade(db_engine)
    assert "revision" in {c["name"] for c in inspect(db_engine).get_columns("acct_users")}


def test_the_unused_last_contact_column_goes_and_comes_back_with_the_sites_kept(
    db_engine: Engine,
) -> None:
    MIGRATIONS.upgrade(db_engine, "0003")
    assert "last_contact_ms" in _site_columns(db_engine)
    with db_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO hub_sites (code, name, tier, parent, created_ms, last_contact_ms) "
            "VALUES ('431002001', '良田镇便民服务中心', 'township', '431000', 1, 2)"))

    MIGRATIONS.upgrade(db_engine)
    assert "last_contact_ms" not in _site_columns(db_engine)
    _downgrade(db_engine, "0003")
    assert "last_contact_ms" in _site_columns(db_engine)
    MIGRATIONS.upgrade(db_engine)
    with db_engine.connect() as connection:
        sites = connection.execute(text("SELECT code, name, tier, parent FROM hub_sites")).all()
    assert [tuple(s) for s in sites] == [("431002001", "良田镇便民服务中心", "township", "431000")]


def test_every_step_goes_down_to_nothing_and_up_again(db_engine: Engine) -> None:
    MIGRATIONS.upgrade(db_engine)
    _downgrade(db_engine, "base")
    assert set(inspect(db_engine).get_table_names()) == {VERSION_TABLE}
    MIGRATIONS.upgrade(db_engine)
    assert {"hub_sites", "hub_cases", "sync_events", "acct_users"} <= set(
        inspect(db_engine).get_table_names())
