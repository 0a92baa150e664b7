"""The shared ``sync_`` and ``acct_`` tables are the same whichever app builds them.

``shared_tables_schema.json`` holds what the hub's and the node's migrations built before their
copies of the shared DDL became one (recorded on SQLite and PostgreSQL, at every revision of
either app). Each history must still build exactly that, fresh, from any earlier revision and
one step at a time down and up again; the hub and the node build the same tables.

After a deliberate change to a shared table (new revisions in both apps), record the schema
again and check that the diff of the JSON shows that change and nothing else::

    .venv/bin/python -m tests.shared.storage.test_shared_tables_ddl \\
        > tests/shared/storage/shared_tables_schema.json
"""

from __future__ import annotations

import copy
import json
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.engine.reflection import Inspector

from hub.db_session import MIGRATIONS as HUB_MIGRATIONS
from node.db_session import MIGRATIONS as NODE_MIGRATIONS
from shared.storage import shared_tables_ddl
from shared.storage.db import make_engine
from shared.storage.migrations import SHARED_PREFIXES, Migrations

SNAPSHOT_PATH = Path(__file__).with_name("shared_tables_schema.json")
APPS = {"hub": HUB_MIGRATIONS, "node": NODE_MIGRATIONS}


# --- what a database holds -------------------------------------------------------------------


def _options(reflected: Mapping[str, Any]) -> dict[str, str]:
    options = reflected.get("dialect_options") or {}
    return {key: str(value) for key, value in sorted(options.items()) if value}


def _with_options(entry: dict[str, Any], reflected: Mapping[str, Any]) -> dict[str, Any]:
    options = _options(reflected)
    return {**entry, "options": options} if options else entry


def _index(ix: Mapping[str, Any]) -> dict[str, Any]:
    entry = {"name": ix["name"], "columns": ix["column_names"], "unique": bool(ix["unique"])}
    return _with_options(entry, ix)


def _table(inspector: Inspector, dialect: Dialect, name: str) -> dict[str, Any]:
    primary_key = inspector.get_pk_constraint(name)
    return {
        "columns": [
            {
                "name": column["name"],
                "type": column["type"].compile(dialect=dialect),
                "nullable": column["nullable"],
                "default": column["default"],
            }
            for column in inspector.get_columns(name)
        ],
        "primary_key": {"name": primary_key["name"], "columns": primary_key["constrained_columns"]},
        # PostgreSQL also lists the index behind each unique constraint: those are below
        "indexes": sorted(
            (_index(ix) for ix in inspector.get_indexes(name) if "duplicates_constraint" not in ix),
            key=lambda ix: str(ix["name"]),
        ),
        "unique_constraints": sorted(
            (
                _with_options({"name": uq["name"], "columns": uq["column_names"]}, uq)
                for uq in inspector.get_unique_constraints(name)
            ),
            key=lambda uq: str(uq["name"]),
        ),
        "foreign_keys": sorted(
            (
                {
                    "name": fk["name"],
                    "columns": fk["constrained_columns"],
                    "referred_table": fk["referred_table"],
                    "referred_columns": fk["referred_columns"],
                    "options": {k: str(v) for k, v in sorted(fk.get("options", {}).items())},
                }
                for fk in inspector.get_foreign_keys(name)
            ),
            key=lambda fk: str(fk["name"]),
        ),
        "check_constraints": sorted(
            (
                {"name": ck["name"], "sqltext": str(ck["sqltext"])}
                for ck in inspector.get_check_constraints(name)
            ),
            key=lambda ck: str(ck["name"]),
        ),
    }


def shared_tables(bind: Engine | Connection) -> dict[str, Any]:
    """The reflected schema of every ``sync_`` and ``acct_`` table in ``bind``'s database."""
    inspector = inspect(bind)
    return {
        name: _table(inspector, bind.dialect, name)
        for name in sorted(inspector.get_table_names())
        if name.startswith(SHARED_PREFIXES)
    }


def revisions(migrations: Migrations) -> list[str]:
    """The app's revisions, oldest first."""
    script = ScriptDirectory.from_config(migrations.config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def downgrade(migrations: Migrations, engine: Engine, revision: str) -> None:
    config = migrations.config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


# --- what it should hold ---------------------------------------------------------------------


def _snapshot() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))
    return loaded


def _without(head: dict[str, Any], missing: list[str]) -> dict[str, Any]:
    tables = copy.deepcopy(head)
    for name in missing:
        if "#" in name:  # an index added later: ``table#index``
            table, _, index = name.partition("#")
            tables[table]["indexes"] = [ix for ix in tables[table]["indexes"]
                                        if ix["name"] != index]
            continue
        table, _, column = name.partition(".")
        if column:
            columns = tables[table]["columns"]
            tables[table]["columns"] = [c for c in columns if c["name"] != column]
        else:
            del tables[table]
    return tables


def expected(dialect: str, app: str, revision: str) -> dict[str, Any]:
    """The recorded shared tables of ``app`` at ``revision`` ("base": none)."""
    if revision == "base":
        return {}
    snapshot = _snapshot()
    if revision == "head":
        revision = revisions(APPS[app])[-1]
    return _without(snapshot["tables"][dialect], snapshot["missing_at_revision"][app][revision])


def _dialect(engine: Engine) -> str:
    return str(engine.dialect.name)


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("app", sorted(APPS))
def test_a_fresh_database_has_the_recorded_shared_tables(app: str, db_engine: Engine) -> None:
    APPS[app].upgrade(db_engine)
    assert shared_tables(db_engine) == expected(_dialect(db_engine), app, "head")


@pytest.mark.parametrize(
    ("app", "revision"),
    [(app, revision) for app in sorted(APPS) for revision in revisions(APPS[app])[:-1]],
)
def test_a_database_at_an_earlier_revision_goes_to_the_same_head(
    app: str, revision: str, db_engine: Engine
) -> None:
    migrations, dialect = APPS[app], _dialect(db_engine)
    migrations.upgrade(db_engine, revision)
    assert shared_tables(db_engine) == expected(dialect, app, revision)
    migrations.upgrade(db_engine)
    assert shared_tables(db_engine) == expected(dialect, app, "head")


@pytest.mark.parametrize("app", sorted(APPS))
def test_each_step_goes_down_and_up_again_through_the_recorded_shared_tables(
    app: str, db_engine: Engine
) -> None:
    migrations, dialect = APPS[app], _dialect(db_engine)
    steps = ["base", *revisions(migrations)]
    if app == "node" and dialect == "postgresql":
        # a node runs on SQLite: its 0002 downgrade rebuilds pre-release SQLite-only tables
        steps = steps[steps.index("0002"):]
    migrations.upgrade(db_engine)
    for revision in reversed(steps[:-1]):
        downgrade(migrations, db_engine, revision)
        assert shared_tables(db_engine) == expected(dialect, app, revision), revision
    for revision in steps[1:]:
        migrations.upgrade(db_engine, revision)
        assert shared_tables(db_engine) == expected(dialect, app, revision), revision


def test_the_hub_and_the_node_build_the_same_shared_tables(db_engine: Engine) -> None:
    HUB_MIGRATIONS.upgrade(db_engine)
    built_by_hub = shared_tables(db_engine)
    downgrade(HUB_MIGRATIONS, db_engine, "base")
    assert shared_tables(db_engine) == {}
    NODE_MIGRATIONS.upgrade(db_engine)
    assert shared_tables(db_engine) == built_by_hub


def test_the_shared_steps_alone_build_the_recorded_tables_and_remove_them(
    db_engine: Engine,
) -> None:
    with db_engine.begin() as connection:
        op = Operations(MigrationContext.configure(connection))
        shared_tables_ddl.create_sync_tables(op)
        shared_tables_ddl.create_account_table(op)
        shared_tables_ddl.add_account_revision(op)
        shared_tables_ddl.create_failure_table(op)
        shared_tables_ddl.add_account_security(op)
        shared_tables_ddl.add_actor_index(op)
        shared_tables_ddl.add_down_time_index(op)
    assert shared_tables(db_engine) == expected(_dialect(db_engine), "hub", "head")
    with db_engine.begin() as connection:
        op = Operations(MigrationContext.configure(connection))
        shared_tables_ddl.drop_down_time_index(op)
        assert shared_tables(connection) == expected(_dialect(db_engine), "hub", "0013")
        shared_tables_ddl.drop_actor_index(op)
        assert shared_tables(connection) == expected(_dialect(db_engine), "hub", "0006")
        shared_tables_ddl.drop_account_security(op)
        assert shared_tables(connection) == expected(_dialect(db_engine), "hub", "0005")
        shared_tables_ddl.drop_failure_table(op)
        assert shared_tables(connection) == expected(_dialect(db_engine), "hub", "0004")
        shared_tables_ddl.drop_account_revision(op)
        assert shared_tables(connection) == expected(_dialect(db_engine), "hub", "0002")
        shared_tables_ddl.drop_account_table(op)
        shared_tables_ddl.drop_sync_tables(op)
    assert shared_tables(db_engine) == {}


# --- recording -------------------------------------------------------------------------------


@contextmanager
def _fresh_engine(dialect: str, pg_url: str) -> Iterator[Engine]:
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            engine = make_engine(f"sqlite:///{directory}/record.sqlite")
            yield engine
            engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(pg_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(f"{pg_url}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _missing(head: dict[str, Any], at_revision: dict[str, Any]) -> list[str]:
    """What ``head`` has that ``at_revision`` lacks: tables, columns as ``table.column``,
    indexes as ``table#index``."""
    missing: list[str] = []
    for table, schema in head.items():
        if table not in at_revision:
            missing.append(table)
            continue
        columns = {c["name"] for c in at_revision[table]["columns"]}
        missing += [f"{table}.{c['name']}" for c in schema["columns"] if c["name"] not in columns]
        indexes = {ix["name"] for ix in at_revision[table]["indexes"]}
        missing += [f"{table}#{ix['name']}" for ix in schema["indexes"]
                    if ix["name"] not in indexes]
    return missing


def record(pg_url: str) -> dict[str, Any]:
    """The schema today's migrations build, in the form ``shared_tables_schema.json`` keeps."""
    tables: dict[str, Any] = {}
    missing: dict[str, dict[str, list[str]]] = {}
    for dialect in ("sqlite", "postgresql"):
        for app, migrations in sorted(APPS.items()):
            with _fresh_engine(dialect, pg_url) as engine:
                built = {}
                for revision in revisions(migrations):
                    migrations.upgrade(engine, revision)
                    built[revision] = shared_tables(engine)
            head = built[revisions(migrations)[-1]]
            if tables.setdefault(dialect, head) != head:
                raise SystemExit(f"{app} builds other shared tables on {dialect}")
            for revision, schema in built.items():
                gaps = _missing(head, schema)
                if _without(head, gaps) != schema:
                    raise SystemExit(f"{app} {revision} differs from head by more than absences")
                at_app = missing.setdefault(app, {})
                if at_app.setdefault(revision, gaps) != gaps:
                    raise SystemExit(f"{app} {revision} differs between the databases")
    return {"tables": tables, "missing_at_revision": missing}


def _json(value: Any, indent: str = "", prefix: str = "") -> str:
    """JSON with whatever fits on a line of 100 on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or len(prefix + flat) < 100:
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            line = f"{inner}{json.dumps(key)}: "
            items.append(line + _json(item, inner, line))
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + _json(v, inner, inner) for v in value) + "\n" + indent + "]"


if __name__ == "__main__":
    from tests.conftest import PG_URL

    print(_json(record(PG_URL)))
