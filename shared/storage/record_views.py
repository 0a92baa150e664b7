"""Who opened a full record, when, and why: the audit log of staff views (PIPL art. 51;
OWASP ASVS 8.3.5).

A *full record* is what shows a citizen's personal data unmasked or their materials: a
window's case page and result document, a scan, and at a node the case page, its receipt and
the case JSON. Lists and queues show masked summaries and are not logged. One row per view,
written and committed in a transaction of its own before the record is sent, so a view
whose row cannot be written sends nothing. The row holds no personal data: the case id, the
user, the reason and a note the user typed (up to 200 characters).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, Index, Integer, String, Uuid, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.storage.db import Base

REASONS = ("processing", "applicant_request", "supervision", "complaint", "audit")
"""Why a record is opened: working the case (the default for the staff who work it), the
applicant asked, supervision (the default for supervisors and admins), a complaint, an
audit."""
MAX_NOTE = 200


class RecordView(Base):
    """One view of one case's full record."""

    __tablename__ = "record_views"
    __table_args__ = (
        Index("ix_record_views_case", "case_id", "at_ms"),
        Index("ix_record_views_user", "username", "at_ms"),
        Index("ix_record_views_at", "at_ms"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    site: Mapped[str] = mapped_column(String(15))
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(MAX_NOTE))
    endpoint: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True, slots=True)
class View:
    """What one view recorded (the row, detached from its session)."""

    at_ms: int
    site: str
    username: str
    role: str
    case_id: uuid.UUID
    reason: str
    note: str
    endpoint: str
    address: str


def record_view(engine: Engine, view: View) -> None:
    """Write and commit ``view`` on a connection of its own; raises if it cannot be written
    (the caller then sends nothing)."""
    with Session(engine) as session:
        session.add(RecordView(**{f: getattr(view, f) for f in View.__slots__}))
        session.commit()


def recent_views(session: Session, *, case_id: uuid.UUID | None = None,
                 username: str | None = None, since_ms: int | None = None,
                 until_ms: int | None = None, limit: int = 50, offset: int = 0) -> list[View]:
    """Views newest first, filtered by case, user and time (``until_ms`` excluded)."""
    query = select(RecordView).order_by(RecordView.at_ms.desc(), RecordView.id.desc())
    if case_id is not None:
        query = query.where(RecordView.case_id == case_id)
    if username:
        query = query.where(RecordView.username == username)
    if since_ms is not None:
        query = query.where(RecordView.at_ms >= since_ms)
    if until_ms is not None:
        query = query.where(RecordView.at_ms < until_ms)
    rows = session.scalars(query.limit(limit).offset(offset))
    return [View(r.at_ms, r.site, r.username, r.role, r.case_id, r.reason, r.note, r.endpoint,
                 r.address) for r in rows]


def purge_views(session: Session, before_ms: int) -> int:
    """Delete the views logged before ``before_ms`` (the audit logs' retention period is
    over: 网络安全法 art. 21 asks six months at least, the hub's policy says how long);
    how many. The caller commits."""
    result = session.execute(delete(RecordView).where(RecordView.at_ms < before_ms))
    return int(getattr(result, "rowcount", 0) or 0)
