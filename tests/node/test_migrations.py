"""The node's schema comes from Alembic only, and goes down and up again cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from node.db_session import alembic_config, upgrade_database
from shared.storage.db import make_engine

NODE_TABLES = {
    "node_cases",
    "sync_events",
    "sync_outbox",
    "node_materials",
    "node_idempotency",
    "node_meta",
    "sync_state",
    "sync_releases",
    "sync_down",
    "sync_credentials",
    "acct_users",
    "acct_failures",
    "node_window_cases",
    "node_case_signals",
    "node_hub_receipts",
    "node_receipt_books",
    "node_receipts",
    "record_views",
    "node_station_booking_copies",
}


def test_upgrade_creates_only_node_tables_and_downgrade_removes_them(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    upgrade_database(engine)
    tables = set(inspect(engine).get_table_names())
    assert tables == NODE_TABLES | {"node_alembic_version"}
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (mode, sync) == ("wal", 2)  # 2 = FULL
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"node_alembic_version"}
    upgrade_database(engine)
    assert set(inspect(engine).get_table_names()) >= NODE_TABLES
    engine.dispose()


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import node.models  # noqa: F401
    from node.db_session import include_object
    from shared.storage.db import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    upgrade_database(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": include_object, "version_table": "node_alembic_version"},
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()
