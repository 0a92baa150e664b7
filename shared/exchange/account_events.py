"""Accounts travelling down the tree as events the hub signs (user sync).

A node signs its people in offline, so it keeps copies of its own site's accounts (argon2
hashes only). The enrolment grant brings the copies of that moment; every later change at the
hub (a user added, disabled, re-enabled, given a new password or another role) is one event of
the hub's own chain, type :data:`ACCOUNT_EVENT`, whose payload is the account's whole copy
(:func:`shared.storage.accounts.account_copy`, with its revision). It travels like any event that
goes down: queued toward the account's site in the per-child streams, relayed hop by hop,
acknowledged only once stored, deduplicated on ``(origin, epoch, seq)``, each item checked
against the hub's signature, so a relay can neither forge nor alter one.

Only the account's own site keeps the copy (a township relays its villages' accounts without
taking them in); only events whose origin is the hub count (a township's or county's key may
sign events of its own chain, never an account). The copy replaces the one held unless that
one is of a later revision, so a late or repeated event never undoes a newer change.

Each account is one stream of events: :func:`account_stream` names it the way a case id names
a case, so the events of one person line up in the hub's store and no case ever shares them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from shared.domain.errors import DomainError
from shared.storage.accounts import import_credential
from sync_protocol import Event

LOG = logging.getLogger("sanji.accounts")

ACCOUNT_EVENT = "account_state"
"""The event type of an account's copy; no case ever has an event of this type."""

_STREAMS = uuid.UUID("6d1e3c52-41a8-5b6f-9c0e-5a4e6a1c7b21")


def account_stream(username: str) -> uuid.UUID:
    """The stream id (the event's ``case_id``) of ``username``'s account events."""
    return uuid.uuid5(_STREAMS, f"account:{username}")


def is_account_event(event: Event, hub_site: str) -> bool:
    """An account copy the hub signed (the same type from any other origin is not one)."""
    return event.type == ACCOUNT_EVENT and event.origin == hub_site


def account_destination(event: Event, hub_site: str) -> str | None:
    """The site an account event is addressed to (the account's site), or None when the
    event is not the hub's account copy."""
    if not is_account_event(event, hub_site):
        return None
    site = event.payload.get("site")
    return site if isinstance(site, str) else None


def keep_account_copies(session: Session, events: Iterable[Event], *, site: str,
                        hub_site: str, now: datetime) -> int:
    """Take in the account copies addressed to ``site`` among ``events`` (in the caller's
    transaction, the one that stores them and moves the down ack: a cut before the commit
    leaves nothing half applied, and the parent sends them again). Returns how many accounts
    changed. A copy this release cannot read is logged and skipped, never fatal: the event
    stays stored and the stream moves on."""
    changed = 0
    for event in events:
        if account_destination(event, hub_site) != site:
            continue
        try:
            changed += import_credential(session, event.payload, now)
        except DomainError as exc:
            LOG.warning("account copy not kept", extra={"fields": {
                "site": site, "event": f"{event.origin}/{event.epoch}/{event.seq}",
                "reason": str(exc)}})
    return changed
