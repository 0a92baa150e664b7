"""Many rows into one table in one statement, on PostgreSQL and SQLite alike.

An exchange writes a batch's events, its down items and its cases' projection rows at once.
On PostgreSQL the rows travel as one array per column through ``unnest``: the statement text
is the same whatever the number of rows, so the server plans it once per connection and the
driver does not re-parse thousands of placeholders (which costs more than the insert itself).
SQLite, a village PC's database, takes the rows as an ``executemany``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class OnConflict:
    """What to do with a row whose ``keys`` are already held: skip it (``update`` empty) or
    overwrite the ``update`` columns with the new row's values."""

    keys: tuple[str, ...]
    update: tuple[str, ...] = ()


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
                on_conflict: OnConflict | None = None,
                returning: Sequence[str] = ()) -> list[Any]:
    """Insert ``rows`` (each with the same columns) in order; returns the ``returning``
    columns of the rows written (a row skipped on conflict returns nothing)."""
    if not rows:
        return []
    session.flush()  # what the ORM still holds back goes first: ids keep the call order
    columns = list(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        return _unnest_insert(session, table, columns, rows, on_conflict, returning)
    result = session.execute(_sqlite_insert(table, on_conflict, returning),
                             [dict(r) for r in rows])
    return list(result) if returning else []


def _unnest_insert(session: Session, table: Table, columns: list[str],
                   rows: Sequence[Mapping[str, Any]], on_conflict: OnConflict | None,
                   returning: Sequence[str]) -> list[Any]:
    """The PostgreSQL path: one array per column, sent in binary (text arrays of ``bytea``
    cost the server several times more to parse), on the session's own connection and
    transaction."""
    dialect = session.get_bind().dialect
    q = dialect.identifier_preparer.quote  # ``window``, ``open``: reserved words
    arrays = ", ".join(
        f"CAST(%b AS {table.c[c].type.compile(dialect=dialect)}[])" for c in columns)
    sql = (f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in columns)}) "
           f"SELECT * FROM unnest({arrays})")
    if on_conflict is not None:
        sql += f" ON CONFLICT ({', '.join(q(c) for c in on_conflict.keys)}) "
        sql += ("DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}"
                                             for c in on_conflict.update)
                if on_conflict.update else "DO NOTHING")
    if returning:
        sql += f" RETURNING {', '.join(q(c) for c in returning)}"
    from psycopg.rows import namedtuple_row  # here: a village node never loads the driver

    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(sql, [[r[c] for r in rows] for c in columns])
        return list(cursor.fetchall()) if returning else []


def _sqlite_insert(table: Table, on_conflict: OnConflict | None,
                   returning: Sequence[str]) -> Any:
    if on_conflict is None:
        statement: Any = insert(table)
    else:
        statement = sqlite.insert(table)
        if on_conflict.update:
            statement = statement.on_conflict_do_update(
                index_elements=list(on_conflict.keys),
                set_={c: statement.excluded[c] for c in on_conflict.update})
        else:
            statement = statement.on_conflict_do_nothing(index_elements=list(on_conflict.keys))
    if returning:
        statement = statement.returning(*(table.c[c] for c in returning))
    return statement

