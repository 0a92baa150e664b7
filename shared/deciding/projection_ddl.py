"""The DDL of the window projection's supervision columns and of the signals table, written
once for the hub's (``hub_cases``, ``hub_case_signals``) and the nodes'
(``node_window_cases``, ``node_case_signals``) migrations, which differ only in the table
names. Frozen as released, like :mod:`shared.storage.shared_tables_ddl`: a later change is
a new function here, never an edit of one below."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

_TIMES = ("legal_due_ms", "warn_ms", "next_signal_ms", "timer_ms", "accepted_ms",
          "decided_ms", "closed_ms", "urged_ms", "signal_ms")
_INDEXES = ("next_signal", "timer", "co_approval", "registered", "decided")


def add_supervision_columns(op: Any, table: str) -> None:
    """The live deadlines, the clock's pause, the dates reports count, when the law's timer
    comes due, the standing urge, the gravest signal and the departments yet to co-approve,
    with the indexes the scan, the timers, the co-approvers' queues and the reports read.
    Hub ``0011``, node ``0012``."""
    with op.batch_alter_table(table) as batch:
        for name in _TIMES:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("paused", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("rating", sa.String(24), nullable=True))
        batch.add_column(sa.Column("signal", sa.String(16), nullable=True))
        batch.add_column(sa.Column("pending_departments", sa.String(400), nullable=True))
    running = sa.text("open = 1 AND paused = 0")
    op.create_index(f"ix_{table}_next_signal", table, ["owner_site", "next_signal_ms"],
                    postgresql_where=running, sqlite_where=running)
    is_open = sa.text("open = 1")
    op.create_index(f"ix_{table}_timer", table, ["owner_site", "timer_ms"],
                    postgresql_where=is_open, sqlite_where=is_open)
    waiting = sa.text("pending_departments IS NOT NULL")
    op.create_index(f"ix_{table}_co_approval", table, ["owner_site"],
                    postgresql_where=waiting, sqlite_where=waiting)
    op.create_index(f"ix_{table}_registered", table, ["owner_site", "registered_ms"])
    op.create_index(f"ix_{table}_decided", table, ["owner_site", "decided_ms"])


def drop_supervision_columns(op: Any, table: str) -> None:
    """Undo :func:`add_supervision_columns`."""
    for name in _INDEXES:
        op.drop_index(f"ix_{table}_{name}", table)
    with op.batch_alter_table(table) as batch:
        for name in (*_TIMES, "paused", "rating", "signal", "pending_departments"):
            batch.drop_column(name)


_RECTIFICATION_OPEN = "rect_status IN ('open', 'answered')"


def add_rectification_columns(op: Any, table: str) -> None:
    """A bad rating's rectification (差评整改): its status, department, due and answer times
    and the call-back's outcome, with the index the list of open rectifications reads. Hub ``0016``,
    node ``0017``."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("rect_status", sa.String(10), nullable=True))
        batch.add_column(sa.Column("rect_department", sa.String(40), nullable=True))
        batch.add_column(sa.Column("rect_due_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("rect_answered_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("rect_outcome", sa.String(16), nullable=True))
    where = sa.text(_RECTIFICATION_OPEN)
    op.create_index(f"ix_{table}_rectification", table, ["owner_site", "rect_due_ms"],
                    postgresql_where=where, sqlite_where=where)


def drop_rectification_columns(op: Any, table: str) -> None:
    """Undo :func:`add_rectification_columns`."""
    op.drop_index(f"ix_{table}_rectification", table)
    with op.batch_alter_table(table) as batch:
        for name in ("rect_status", "rect_department", "rect_due_ms", "rect_answered_ms",
                     "rect_outcome"):
            batch.drop_column(name)


def add_fee_columns(op: Any, table: str) -> None:
    """以票控费: the fees assessed and what was paid against receipts not voided, less the
    refunds, in fen, with the index the finance window's list of fees owed reads. Hub
    ``0018``, node ``0019``."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("fee_due_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("fee_paid_fen", sa.BigInteger(), nullable=True))
    owed = sa.text("fee_due_fen > fee_paid_fen")
    op.create_index(f"ix_{table}_fees_owed", table, ["owner_site", "window", "registered_ms"],
                    postgresql_where=owed, sqlite_where=owed)


def drop_fee_columns(op: Any, table: str) -> None:
    """Undo :func:`add_fee_columns`."""
    op.drop_index(f"ix_{table}_fees_owed", table)
    with op.batch_alter_table(table) as batch:
        batch.drop_column("fee_due_fen")
        batch.drop_column("fee_paid_fen")


def add_bundle_columns(op: Any, table: str) -> None:
    """一件事: the parent a part belongs to and its composite's code, with the index that
    finds a parent's parts. Hub ``0019``, node ``0020`` (also on ``node_cases``)."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("bundle_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("composite", sa.String(16), nullable=True))
    op.create_index(f"ix_{table}_bundle_id", table, ["bundle_id"])


def drop_bundle_columns(op: Any, table: str) -> None:
    """Undo :func:`add_bundle_columns`."""
    op.drop_index(f"ix_{table}_bundle_id", table)
    with op.batch_alter_table(table) as batch:
        batch.drop_column("bundle_id")
        batch.drop_column("composite")


def create_signal_table(op: Any, table: str) -> None:
    """One row per ``signalled`` or ``urged`` event of a case the site decides or watches.
    Hub ``0012``, node ``0013``."""
    op.create_table(
        table,
        sa.Column("origin", sa.String(15), primary_key=True),
        sa.Column("epoch", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("owner_site", sa.String(15), nullable=False),
        sa.Column("window", sa.String(40), nullable=False),
        sa.Column("acceptance_no", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index(f"ix_{table}_case_id", table, ["case_id"])
    op.create_index(f"ix_{table}_site_at", table, ["owner_site", "at_ms"])
