"""The DDL of the shared ``sync_`` and ``acct_`` tables, written once for both apps' migrations.

The hub and the nodes each keep their own Alembic history and version table, and both build
the shared tables. Where the two histories take the same step on those tables, each one's
revision calls the function here for it, so the hub and a node cannot drift apart.

Every function is frozen as the revisions that call it were released: databases in the field
ran exactly this DDL, and a fresh database must end up the same. So the columns are spelled
out here rather than read from the models in :mod:`shared.storage.sync_store` and
:mod:`shared.storage.accounts`, which move on. A later change to a shared table is a new
function here, called by a new revision of each app; never an edit of a function below.
``tests/shared/storage/test_shared_tables_ddl.py`` compares what both histories build with the
recorded schema.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import sqlalchemy as sa
from alembic.operations import BatchOperations
from sqlalchemy.sql.elements import conv
from sqlalchemy.sql.schema import SchemaItem, Table


class MigrationOps(Protocol):
    """What the functions below use of Alembic's operations.

    A revision passes the ``alembic.op`` module it imports; a test may pass an
    ``alembic.operations.Operations``. Both fit.
    """

    def create_table(self, table_name: str, *columns: SchemaItem, **kw: Any) -> Table: ...

    def drop_table(self, table_name: str, **kw: Any) -> None: ...

    def batch_alter_table(
        self, table_name: str, schema: str | None = None
    ) -> AbstractContextManager[BatchOperations]: ...

    def f(self, name: str) -> conv: ...


def create_sync_tables(op: MigrationOps) -> None:
    """The six ``sync_`` tables (events, outbox, down stream, state, credentials, releases).

    Called by hub ``0001`` and node ``0002``: the sync store as first released at every site.
    """
    op.create_table(
        "sync_credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=15), nullable=False),
        sa.Column("wire", sa.LargeBinary(), nullable=False),
        sa.Column("forward", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_credentials")),
        sa.UniqueConstraint("wire", name=op.f("uq_sync_credentials_wire")),
    )
    with op.batch_alter_table("sync_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_credentials_site"), ["site"], unique=False)

    op.create_table(
        "sync_down",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("child", sa.String(length=15), nullable=False),
        sa.Column("link_epoch", sa.Integer(), nullable=False),
        sa.Column("link_seq", sa.Integer(), nullable=False),
        sa.Column("item", sa.LargeBinary(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_down")),
        sa.UniqueConstraint("child", "link_epoch", "link_seq", name=op.f("uq_sync_down_child")),
    )
    op.create_table(
        "sync_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=15), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_events")),
        sa.UniqueConstraint("origin", "epoch", "seq", name=op.f("uq_sync_events_origin")),
    )
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_events_case_id"), ["case_id"], unique=False)

    op.create_table(
        "sync_releases",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wire", sa.LargeBinary(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "version", name=op.f("pk_sync_releases")),
    )
    op.create_table(
        "sync_state",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "sync_outbox",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("enqueued_ms", sa.BigInteger(), nullable=False),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["sync_events.id"], name=op.f("fk_sync_outbox_event_id_sync_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_sync_outbox")),
    )
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_sync_outbox_state", ["state", "event_id"], unique=False)


def drop_sync_tables(op: MigrationOps) -> None:
    """Undoes :func:`create_sync_tables` (hub ``0001`` and node ``0002`` going down)."""
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_outbox_state")

    op.drop_table("sync_outbox")
    op.drop_table("sync_state")
    op.drop_table("sync_releases")
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_events_case_id"))

    op.drop_table("sync_events")
    op.drop_table("sync_down")
    with op.batch_alter_table("sync_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_credentials_site"))

    op.drop_table("sync_credentials")


def create_account_table(op: MigrationOps) -> None:
    """``acct_users`` as first released, without ``revision`` (see :func:`add_account_revision`).

    Called by hub ``0001`` and node ``0003``.
    """
    op.create_table(
        "acct_users",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("site", sa.String(length=15), nullable=False),
        sa.Column("window", sa.String(length=40), nullable=True),
        sa.Column("department", sa.String(length=40), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_acct_users")),
    )


def drop_account_table(op: MigrationOps) -> None:
    """Undoes :func:`create_account_table` (hub ``0001`` and node ``0003`` going down)."""
    op.drop_table("acct_users")


def add_account_revision(op: MigrationOps) -> None:
    """``acct_users.revision``, 0 for the accounts already there (user sync).

    Called by hub ``0003`` and node ``0006``: the hub counts its changes to each account, and
    a node keeps the hub's count of the copy it holds, so it never takes an older one.
    """
    with op.batch_alter_table("acct_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.Integer(), server_default="0", nullable=False)
        )


def drop_account_revision(op: MigrationOps) -> None:
    """Undoes :func:`add_account_revision` (hub ``0003`` and node ``0006`` going down)."""
    with op.batch_alter_table("acct_users", schema=None) as batch_op:
        batch_op.drop_column("revision")


def create_failure_table(op: MigrationOps) -> None:
    """``acct_failures``: failed logins and lookups, counted by every process of a site.

    Called by hub ``0005`` and node ``0007``.
    """
    op.create_table(
        "acct_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acct_failures")),
    )
    with op.batch_alter_table("acct_failures", schema=None) as batch_op:
        batch_op.create_index("ix_acct_failures_address", ["kind", "address", "at_ms"],
                              unique=False)
        batch_op.create_index("ix_acct_failures_username", ["kind", "username", "at_ms"],
                              unique=False)
        batch_op.create_index("ix_acct_failures_at_ms", ["at_ms"], unique=False)


def drop_failure_table(op: MigrationOps) -> None:
    """Undo :func:`create_failure_table`."""
    op.drop_table("acct_failures")



def add_account_security(op: MigrationOps) -> None:
    """``acct_users``: the sealed TOTP secret, the last one-time-code step taken and the
    token generation (0 for the accounts already there).

    Called by hub ``0006`` and node ``0008``. ``totp_secret`` stays, for the secrets kept in
    clear until the hub seals them when it next starts (it holds the key; a migration does
    not).
    """
    with op.batch_alter_table("acct_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_sealed", sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )


def drop_account_security(op: MigrationOps) -> None:
    """Undoes :func:`add_account_security`. The earlier release cannot open a sealed secret:
    such an account needs a new one-time-code secret before it signs in again."""
    with op.batch_alter_table("acct_users", schema=None) as batch_op:
        batch_op.drop_column("token_generation")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_sealed")


def add_actor_index(op: MigrationOps) -> None:
    """``sync_events``: an index on who acted and when, for the life-long trace of one
    person's work (终身追溯). Called by hub ``0013`` and node ``0014``."""
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.create_index("ix_sync_events_actor", ["actor", "at_ms"], unique=False)


def drop_actor_index(op: MigrationOps) -> None:
    """Undo :func:`add_actor_index`."""
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_events_actor")


def add_down_time_index(op: MigrationOps) -> None:
    """``sync_down``: an index on when each copy was queued, so an erasure finds the copies
    of its case's events by the times they were stored (the table is never pruned). Called
    by hub ``0014`` and node ``0015``."""
    with op.batch_alter_table("sync_down", schema=None) as batch_op:
        batch_op.create_index("ix_sync_down_created", ["created_ms"], unique=False)


def drop_down_time_index(op: MigrationOps) -> None:
    """Undo :func:`add_down_time_index`."""
    with op.batch_alter_table("sync_down", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_down_created")
