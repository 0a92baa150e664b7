"""The hub's own tables (prefixed ``hub_``); times are epoch milliseconds (UTC) so SQLite
(the demo) and PostgreSQL (production) store them alike.

``hub_sites`` is the registry of the tree: a site's parent is recorded here at
``add-site``, never derived from its code. ``hub_enrolment_codes`` keeps each one-time code
retrievably (the node proves it knows the code with an HMAC keyed by it) until it is used or
expires. ``hub_cases`` is the projection of every case the city holds, folded from the
events in ``sync_events``; window queues and supervision read it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, Uuid
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


class HubSite(Base):
    """A site of the tree below (and including) the hub."""

    __tablename__ = "hub_sites"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    tier: Mapped[str] = mapped_column(String(10))
    parent: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    enrolled_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


class HubEnrolmentCode(Base):
    """A one-time enrolment code issued by ``sanji hub add-site`` (or re-enrolment)."""

    __tablename__ = "hub_enrolment_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(15), index=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    used_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class HubCase(CaseProjectionColumns, Base):
    """Where a case stands, as the city sees it (rebuilt from its events on every change)."""

    __tablename__ = "hub_cases"
    __table_args__ = (queue_index("hub_cases"), scan_index("hub_cases"), timer_index("hub_cases"),
                      co_approval_index("hub_cases"), *report_indexes("hub_cases"),
                      rectification_index("hub_cases"), fees_owed_index("hub_cases"))


class HubMaterialReuse(Base):
    """A material a case's registration took from the certificate store (证照库) by
    reference, as the hub found it at ingest (:mod:`hub.privacy.certificates`): ``trusted``
    1, or 0 with the ``reason`` (the window asks for it). Beside the projection, which the
    supervision report joins it with."""

    __tablename__ = "hub_material_reuses"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    material_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64))
    trusted: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    recorded_ms: Mapped[int] = mapped_column(BigInteger)


HubCase.reuse_model = HubMaterialReuse  # counted by the supervision report


class HubCaseSignal(CaseSignalColumns, Base):
    """One signal (warning, card, urge) raised on a case this site decides or watches."""

    __tablename__ = "hub_case_signals"
    __table_args__ = (signal_index("hub_case_signals"),)


HubCase.signal_model = HubCaseSignal


class HubSms(Base):
    """One text message to a citizen about an event of their case (:mod:`hub.notifications`):
    queued once per event, sent by the background job with retries. It holds no personal
    data: the phone is read from the case's registration when the message is sent."""

    __tablename__ = "hub_sms"
    __table_args__ = (UniqueConstraint("origin", "epoch", "seq", name="uq_hub_sms_event"),
                      Index("ix_hub_sms_due", "state", "next_ms"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    origin: Mapped[str] = mapped_column(String(15))
    epoch: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(10))
    """``queued`` (to send at ``next_ms``), ``sent``, ``failed`` (gave up) or ``skipped``
    (no phone to send to: the case was erased, or its registration is not held)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_ms: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class HubReceiptBook(ReceiptBookColumns, Base):
    """A receipt book (以票控费) registered to one of the hub's finance windows."""

    __tablename__ = "hub_receipt_books"
    __table_args__ = book_indexes("hub_receipt_books")


class HubReceipt(ReceiptColumns, Base):
    """A receipt number used (or voided) at the hub, unique per site."""

    __tablename__ = "hub_receipts"
    __table_args__ = receipt_indexes("hub_receipts")


HubReceipt.book_model = HubReceiptBook
receipt_books.pair(HubCase, HubReceipt)
