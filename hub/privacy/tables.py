"""The hub's tables for personal information: the blind index of ID numbers
(``hub_id_index``) and the log of access requests (``hub_access_requests``), which names the
blind index asked for, never the number."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Index, Integer, String, Uuid
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


class HubCertificate(Base):
    """One material a person holds in the certificate store (证照库), by the blind index of
    the holder's ID number: a copy received with a case or a certificate an approval issued
    (:mod:`shared.domain.certificates`). ``ref`` is the opaque reference a later case names;
    ``digest`` the scan's SHA-256 or the result document's verification code."""

    __tablename__ = "hub_certificates"
    __table_args__ = (Index("ix_hub_certificates_holder", "blind_index", "material_code"),)

    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    blind_index: Mapped[str] = mapped_column(String(64))
    material_code: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    source: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str] = mapped_column(String(64))
    valid_until_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    recorded_ms: Mapped[int] = mapped_column(BigInteger)


class HubCertificateQuery(Base):
    """One look-up in the certificate store: who asked (an account, or the chain of sites a
    relayed agent's question came through), when, for which item and blind index, and how
    many holdings were offered; never the number."""

    __tablename__ = "hub_certificate_queries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    asked_ms: Mapped[int] = mapped_column(BigInteger)
    asked_by: Mapped[str] = mapped_column(String(200))
    item_code: Mapped[str] = mapped_column(String(40))
    blind_index: Mapped[str] = mapped_column(String(64))
    found: Mapped[int] = mapped_column(Integer)
