"""The online hall's part of the hub's retention run (PIPL art. 19 and 47): drafts left
untouched, accounts no longer used, and spent one-time codes.

- A draft (:mod:`hub.online_hall_cases`) not saved for the policy's ``online_draft_days`` is
  deleted: its answers, delivery, courier address and the list of its scans.
- An account with no case open (every case it submitted is closed at the hub: withdrawn,
  or its result issued) and no sign-in for ``online_account_days`` is anonymised: its phone's
  blind index and its sealed identity (names, ID number or credit code, mobile) are replaced,
  so no phone finds it and nothing in it names a person; its drafts, the sealed query codes
  of its cases and its double-submit records go. The row and its id stay, so the
  ``applicant:online-<id>`` of the cases' events never names another account; the cases
  themselves follow their own periods (:mod:`hub.privacy.erasure`).
- One-time codes expired for a day are deleted (their limits are counted elsewhere).

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), in batches of
:data:`BATCH`, one transaction each, so several hub processes may run it at once and none
holds the tables long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.online_hall_cases import DRAFT_PREFIX, SUBMITTED_PREFIX, delete_drafts
from hub.online_hall_models import OnlineAccount, OnlineCase, OnlineCode, OnlineDraft
from shared.domain.retention import RetentionPolicy
from shared.storage.sync_store import SyncState
from sync_protocol.times import to_ms

BATCH = 200
ANONYMISED = "anonymised:"
"""The phone index of an anonymised account (never a 64-hex-digit HMAC)."""
CODES_KEPT = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class OnlineRetention:
    """What one run removed."""

    drafts: int = 0
    accounts: int = 0
    codes: int = 0

    def as_fields(self) -> dict[str, int]:
        return {"online_drafts": self.drafts, "online_accounts": self.accounts,
                "online_codes": self.codes}


def is_anonymised(account: OnlineAccount) -> bool:
    return account.phone_index.startswith(ANONYMISED)


def expire_online(factory: Any, policy: RetentionPolicy, now: datetime) -> OnlineRetention:
    """Delete the abandoned drafts, anonymise the unused accounts and delete the spent codes;
    how many of each."""
    drafts = _in_batches(factory, lambda s: _expire_drafts(s, policy, now))
    accounts = _in_batches(factory, lambda s: _anonymise_accounts(s, policy, now))
    with factory() as session:
        codes = session.execute(delete(OnlineCode).where(
            OnlineCode.expires_ms < to_ms(now - CODES_KEPT))).rowcount
        session.commit()
    return OnlineRetention(drafts, accounts, int(codes or 0))


def _in_batches(factory: Any, step: Any) -> int:
    total = 0
    while True:
        with factory() as session:
            done = int(step(session))
            session.commit()
        total += done
        if done < BATCH:
            return total


def _expire_drafts(session: Session, policy: RetentionPolicy, now: datetime) -> int:
    cutoff = to_ms(now - timedelta(days=policy.online_draft_days))
    due = session.execute(
        select(OnlineDraft.account_id, OnlineDraft.code)
        .where(OnlineDraft.touched_ms < cutoff).order_by(OnlineDraft.touched_ms)
        .limit(BATCH).with_for_update(skip_locked=True)).all()
    delete_drafts(session, [(row.account_id, row.code) for row in due])
    return len(due)


def unused_accounts(policy: RetentionPolicy, now: datetime) -> Any:
    """The accounts due: not anonymised, no case open, no sign-in within the period."""
    cutoff = to_ms(now - timedelta(days=policy.online_account_days))
    last_seen = func.coalesce(OnlineAccount.signed_in_ms, OnlineAccount.created_ms)
    open_case = exists().where(
        OnlineCase.account_id == OnlineAccount.id,
        or_(~exists().where(HubCase.case_id == OnlineCase.case_id),
            exists().where(and_(HubCase.case_id == OnlineCase.case_id, HubCase.open != 0))))
    return (select(OnlineAccount)
            .where(last_seen < cutoff, ~OnlineAccount.phone_index.startswith(ANONYMISED),
                   ~open_case))


def _anonymise_accounts(session: Session, policy: RetentionPolicy, now: datetime) -> int:
    due = list(session.scalars(unused_accounts(policy, now).order_by(OnlineAccount.id)
                               .limit(BATCH).with_for_update(skip_locked=True)))
    for account in due:
        index = account.phone_index
        drafts = session.execute(select(OnlineDraft.account_id, OnlineDraft.code).where(
            OnlineDraft.account_id == account.id)).all()
        delete_drafts(session, [(row.account_id, row.code) for row in drafts])
        for prefix in (DRAFT_PREFIX, SUBMITTED_PREFIX):  # drafts kept before their record
            session.execute(delete(SyncState).where(
                SyncState.key.startswith(f"{prefix}{account.id}:", autoescape=True)))
        session.execute(delete(OnlineCase).where(OnlineCase.account_id == account.id))
        session.execute(delete(OnlineCode).where(OnlineCode.phone_index == index))
        account.phone_index = f"{ANONYMISED}{account.id}"
        account.identity = b""
    return len(due)
