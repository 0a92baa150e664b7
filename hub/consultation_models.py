"""The hub's ledger of consultations and complaints (咨询投诉), kept from their events.

One row per recording event, wherever it was recorded, keyed by the id that event derives
(:func:`sync_protocol.case_id_for`); the answer fills ``answered_ms``. The person's name,
phone and words stay in the (sealed) events only: the ledger holds what supervision counts
and what a department's list shows."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import HubCase
from shared.storage.db import Base


class HubConsultation(Base):
    """A consultation or complaint: where its events live (``log_id``: the case's log, or
    a log of its own), what it concerns, the department that owes the answer and by when."""

    __tablename__ = "hub_consultations"
    __table_args__ = (Index("ix_hub_consultations_department", "department", "recorded_ms"),
                      Index("ix_hub_consultations_case", "case_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    log_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    origin: Mapped[str] = mapped_column(String(15))
    epoch: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    """The case it concerns (its log holds the events), None otherwise."""
    acceptance_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    item_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))
    department: Mapped[str] = mapped_column(String(40))
    recorded_ms: Mapped[int] = mapped_column(BigInteger)
    due_ms: Mapped[int] = mapped_column(BigInteger)
    answered_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(80), nullable=True)


HubCase.consultation_model = HubConsultation  # counted by the supervision report
