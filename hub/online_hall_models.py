"""The online service hall's tables (网上服务大厅): applicants' own accounts, the one-time
codes texted to their phones, and which cases each account submitted.

Nothing here names a person in clear: an account is found by the blind index of its
verified mobile number (:func:`shared.storage.id_index.blind_index`, keyed by the hub's data
key), and the applicant's identity (name, ID number or credit code) is sealed with the data
key like an event payload. A code is kept only as a keyed digest, with its expiry and the
wrong tries it has had.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from shared.storage.db import Base


class OnlineAccount(Base):
    """An applicant's account: a person, or a company by its unified social credit code."""

    __tablename__ = "hub_online_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone_index: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    identity: Mapped[bytes] = mapped_column(LargeBinary)
    """The applicant as ``validate_applicant`` takes it, sealed under ``phone_index``."""
    created_ms: Mapped[int] = mapped_column(BigInteger)
    signed_in_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When its holder last signed in (or up): the retention run's clock (migration 0024)."""


class OnlineCode(Base):
    """A one-time code texted to a phone, for signing up or in."""

    __tablename__ = "hub_online_codes"
    __table_args__ = (Index("ix_hub_online_codes_phone", "phone_index", "created_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone_index: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class OnlineCase(Base):
    """A case an account submitted online, with its query code sealed (shown to the
    account's holder, never to anyone else)."""

    __tablename__ = "hub_online_cases"

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    query_code: Mapped[bytes] = mapped_column(LargeBinary)
    submitted_ms: Mapped[int] = mapped_column(BigInteger)


class OnlineDraft(Base):
    """When an account's draft of an item (or one form) was last saved: the retention run
    deletes a draft left untouched longer than the policy's ``online_draft_days`` (the draft
    itself is a sealed ``sync_state`` record, :mod:`hub.online_hall_cases`)."""

    __tablename__ = "hub_online_drafts"
    __table_args__ = (Index("ix_hub_online_drafts_touched", "touched_ms"),)

    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    touched_ms: Mapped[int] = mapped_column(BigInteger)
