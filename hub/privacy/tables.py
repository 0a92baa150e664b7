"""The hub's tables for personal information: the blind index of ID numbers
(``hub_id_index``) and the log of access requests (``hub_access_requests``), which names the
blind index asked for, never the number."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from shared.storage.db import Base


class HubIdIndex(Base):
    """One case an ID number appears in, by the number's blind index."""

    __tablename__ = "hub_id_index"

    blind_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)


class HubAccessRequest(Base):
    """An access request answered (PIPL art. 45): who asked, when, for which index."""

    __tablename__ = "hub_access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asked_ms: Mapped[int] = mapped_column(BigInteger)
    asked_by: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    blind_index: Mapped[str] = mapped_column(String(64))
    cases_found: Mapped[int] = mapped_column(Integer)


class HubArchivedCase(Base):
    """A closed case archived (its signed, sealed record in ``archives/``): read-only."""

    __tablename__ = "hub_archived_cases"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    archived_ms: Mapped[int] = mapped_column(BigInteger)
    file_sha256: Mapped[str] = mapped_column(String(64))
