"""The node's tables (all prefixed ``node_``), typed SQLAlchemy 2 models.

Personal data lives only in the ``*_sealed`` columns (see :mod:`node.sealing`); the plain
columns hold what the case list shows. A case's events live in the shared ``sync_events``
table (:mod:`shared.storage.sync_store`, payloads sealed the same way) with their outbox rows; the
intake writes a case, its events and their outbox rows in one transaction, so a case either
exists with its way up queued or does not exist at all.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from shared.deciding import receipt_books
from shared.deciding.case_projection import (
    CaseProjectionColumns,
    co_approval_index,
    fees_owed_index,
    queue_index,
    rectification_index,
    report_indexes,
    scan_index,
    timer_index,
)
from shared.deciding.case_signals import CaseSignalColumns, signal_index
from shared.deciding.receipt_books import (
    ReceiptBookColumns,
    ReceiptColumns,
    book_indexes,
    receipt_indexes,
)
from shared.storage.db import Base


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no zone itself)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class NodeCase(Base):
    """A case registered at or known to this node, with its state cached for the list."""

    __tablename__ = "node_cases"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    acceptance_no: Mapped[str] = mapped_column(String(40), unique=True)
    query_code_hash: Mapped[str] = mapped_column(String(64))
    query_code_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    site_code: Mapped[str] = mapped_column(String(12))
    item_code: Mapped[str] = mapped_column(String(40), index=True)
    catalogue_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    window: Mapped[str] = mapped_column(String(40))
    delivery: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(30))
    stage: Mapped[str] = mapped_column(String(30), index=True)
    applicant_kind: Mapped[str] = mapped_column(String(10))
    applicant_masked: Mapped[str] = mapped_column(String(200))
    applicant_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    form_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    registered_by: Mapped[str] = mapped_column(String(80))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    """The parent (一件事) this case is a part of (None: a case of its own)."""
    composite: Mapped[str | None] = mapped_column(String(16), nullable=True)


class NodeMaterial(Base):
    """A scanned material of a case; the file is ``blobs/<sha256[:2]>/<sha256>``."""

    __tablename__ = "node_materials"
    __table_args__ = (UniqueConstraint("case_id", "material_code", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("node_cases.case_id"), index=True)
    material_code: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(40))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NodeIdempotency(Base):
    """An Idempotency-Key already used, the case it created and a digest of the request."""

    __tablename__ = "node_idempotency"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("node_cases.case_id"))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NodeMeta(Base):
    """Small facts about this node's store, e.g. its current ``epoch``."""

    __tablename__ = "node_meta"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class NodeWindowCase(CaseProjectionColumns, Base):
    """A case this township or county node decides or watches, for its window queues."""

    __tablename__ = "node_window_cases"
    __table_args__ = (queue_index("node_window_cases"), scan_index("node_window_cases"),
                      timer_index("node_window_cases"), co_approval_index("node_window_cases"),
                      *report_indexes("node_window_cases"),
                      rectification_index("node_window_cases"),
                      fees_owed_index("node_window_cases"))


class NodeCaseSignal(CaseSignalColumns, Base):
    """One signal (warning, card, urge) raised on a case this site decides or watches."""

    __tablename__ = "node_case_signals"
    __table_args__ = (signal_index("node_case_signals"),)


NodeWindowCase.signal_model = NodeCaseSignal


class NodeHubReceipt(Base):
    """A receipt of the hub for this node's own chain (its signed statement that it stored
    the chain through ``through_seq`` at ``at_ms``), kept whole as the case's proof of
    arrival. Only receipts that cover more than the one before are kept, so the earliest
    receipt covering an event is the one with the smallest ``through_seq`` at or above it."""

    __tablename__ = "node_hub_receipts"

    origin: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    through_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[bytes] = mapped_column(LargeBinary(8))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class NodeReceiptBook(ReceiptBookColumns, Base):
    """A receipt book (以票控费) registered to one of this node's finance windows."""

    __tablename__ = "node_receipt_books"
    __table_args__ = book_indexes("node_receipt_books")


class NodeReceipt(ReceiptColumns, Base):
    """A receipt number used (or voided) at this node, unique per site."""

    __tablename__ = "node_receipts"
    __table_args__ = receipt_indexes("node_receipts")


NodeReceipt.book_model = NodeReceiptBook
receipt_books.pair(NodeWindowCase, NodeReceipt)


class NodeStationBookingCopy(Base):
    """One day of this village station's bookings as last read from the hub, for when the
    link is down (:mod:`node.hall_station`): names and phones sealed with the day's list,
    deleted once the day is past."""

    __tablename__ = "node_station_booking_copies"

    station: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_by: Mapped[str] = mapped_column(String(20))
    bookings_sealed: Mapped[bytes] = mapped_column(LargeBinary)
