"""The registry of the tree and enrolment at the hub.

``sanji hub add-site`` records a site with its explicit parent and issues a one-time code
``<site>.<secret>`` with an expiry; :func:`enrol` turns a node's request (made with that code)
into a hub-signed grant, stores the certificate with the sync layer's credentials (so the
exchange recognises the site and routes toward it) and marks the code used, in one
transaction. Re-enrolling a site (a dead village PC replaced) issues a new code; the new key's
certificate replaces the old one for routing, and the site's history stays.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session, aliased

from hub.key_rotation import keys_since
from hub.models import HubEnrolmentCode, HubSite
from hub.releases import revoke_key
from shared.domain.case_events import TIERS
from shared.domain.errors import InvalidInput, NotFound, NotPermitted, Problems, StateConflict
from shared.domain.sites import validate_site_code
from shared.exchange.enrolment import SiteFacts, grant, read_request
from shared.storage import sync_store
from shared.storage.accounts import export_credentials
from shared.storage.sync_store import SyncEvent
from sync_protocol import Release, Revocation, SiteKey
from sync_protocol.times import from_ms, to_ms

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
DEFAULT_CODE_DAYS = 7
SITE_TIERS = tuple(t for t in TIERS if t not in ("province",))


@dataclass(frozen=True, slots=True)
class IssuedCode:
    site: str
    code: str
    expires_at: datetime


def register_hub(session: Session, code: str, name: str, now: datetime) -> None:
    """The hub's own row (the root of the tree), once."""
    if session.get(HubSite, code) is None:
        session.add(HubSite(code=code, name=name, tier="city", parent=None,
                            created_ms=to_ms(now), enrolled_ms=to_ms(now)))


def add_site(session: Session, *, code: str, name: str, tier: str, parent: str,
             now: datetime, days: int = DEFAULT_CODE_DAYS) -> IssuedCode:
    """Record a site under ``parent`` and issue its first one-time enrolment code."""
    problems: dict[str, str] = {}
    try:
        validate_site_code(code, "code")
    except InvalidInput as exc:
        problems["code"] = exc.reason
    if not name.strip() or len(name) > 80:
        problems["name"] = "1-80 characters"
    if tier not in ("county", "township", "village"):
        problems["tier"] = "one of county, township, village"
    parent_row = session.get(HubSite, parent)
    if parent_row is None:
        problems["parent"] = f"no site {parent}: add the parent first"
    elif parent_row.tier == "village":
        problems["parent"] = "a village has no sites below it"
    if session.get(HubSite, code) is not None:
        problems["code"] = f"site {code} exists already"
    if problems:
        raise Problems(problems, "the site cannot be added")
    session.add(HubSite(code=code, name=name.strip(), tier=tier, parent=parent,
                        created_ms=to_ms(now)))
    return issue_code(session, code, now=now, days=days)


def issue_code(session: Session, site: str, *, now: datetime,
               days: int = DEFAULT_CODE_DAYS) -> IssuedCode:
    """A new one-time code for ``site`` (earlier unused codes stop working)."""
    if session.get(HubSite, site) is None:
        raise NotFound("site", f"no site {site}")
    for old in session.scalars(select(HubEnrolmentCode).where(
            HubEnrolmentCode.site == site, HubEnrolmentCode.used_ms.is_(None))):
        old.used_ms = to_ms(now)
    secret = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    code = f"{site}.{secret}"
    expires = now + timedelta(days=days)
    session.add(HubEnrolmentCode(site=site, code=code, expires_ms=to_ms(expires)))
    session.flush()
    return IssuedCode(site, code, expires)


def move_site(session: Session, site: str, new_parent: str) -> None:
    """Put ``site`` under another parent; it takes effect at its next enrolment."""
    row = session.get(HubSite, site)
    parent = session.get(HubSite, new_parent)
    if row is None or parent is None:
        raise NotFound("site", "both sites must exist")
    if parent.tier == "village":
        raise Problems({"parent": "a village has no sites below it"}, "cannot move")
    row.parent = new_parent


def path_up(session: Session, site: str) -> list[tuple[str, str]]:
    """``(code, tier)`` from ``site`` up to the hub, by the registry's parents."""
    return paths_up(session, [site]).get(site, [])


def paths_up(session: Session, sites: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """:func:`path_up` of many sites in one (recursive) query; a site the registry does not
    hold has no entry."""
    codes = sorted(set(sites))
    if not codes:
        return {}
    walk = (select(HubSite.code.label("start"), HubSite.code, HubSite.tier, HubSite.parent,
                   literal(0).label("depth"))
            .where(HubSite.code.in_(codes)).cte("walk", recursive=True))
    up = aliased(HubSite)
    walk = walk.union_all(
        select(walk.c.start, up.code, up.tier, up.parent, walk.c.depth + 1)
        .join(up, up.code == walk.c.parent).where(walk.c.depth < 32))
    paths: dict[str, list[tuple[str, str]]] = {}
    for row in session.execute(select(walk.c.start, walk.c.code, walk.c.tier)
                               .order_by(walk.c.start, walk.c.depth)):
        paths.setdefault(row.start, []).append((row.code, row.tier))
    return paths


def enrol(session: Session, hub_key: SiteKey, body: bytes, *, releases: list[Release],
          now: datetime) -> bytes:
    """Check a node's enrolment request and answer the signed grant; commits nothing."""
    request = read_request(body)
    row = session.scalar(select(HubEnrolmentCode).where(
        HubEnrolmentCode.site == request.site, HubEnrolmentCode.used_ms.is_(None)
    ).order_by(HubEnrolmentCode.id.desc()).limit(1).with_for_update())
    if row is None:
        raise NotPermitted("code", "no unused enrolment code for this site; ask the city")
    if from_ms(row.expires_ms) <= now:
        raise StateConflict("code", "the enrolment code has expired; ask for a new one")
    # locked like an account change of the site (hub.user_sync): the grant below holds every
    # change committed before, and a later change finds the certificate issued here
    site = session.get(HubSite, request.site, with_for_update=True)
    if site is None:  # pragma: no cover - codes exist only for registered sites
        raise NotFound("site", "unknown site")
    facts = SiteFacts(site.code, site.name, site.tier, site.parent)
    held_epoch = session.scalar(select(func.max(SyncEvent.epoch))
                                .where(SyncEvent.origin == site.code))
    issued, data = grant(request, row.code, hub_key=hub_key, site=facts, releases=releases,
                         users=export_credentials(session, [site.code]), now=now,
                         epoch=int(held_epoch or 0) + 1)
    row.used_ms = to_ms(now)
    if site.key_id is not None and site.key_id != issued.certificate.key_id.hex():
        # the key it enrolled with, and every key that one rotated to (sanji node rotate-key)
        for old in keys_since(session, site.code, bytes.fromhex(site.key_id)):
            _revoke_old_key(session, hub_key, site.code, old, now)
    site.enrolled_ms = to_ms(now)
    site.key_id = issued.certificate.key_id.hex()
    sync_store.add_credentials(session, [issued.certificate], forward=False)
    return data



def _revoke_old_key(session: Session, hub_key: SiteKey, site: str, key_id: bytes,
                    now: datetime) -> None:
    """A re-enrolled site's old key (a replaced PC): what the hub holds of its chain stays
    valid, nothing newer signed by it is accepted anywhere once the release arrives."""
    newest = session.execute(
        select(SyncEvent.epoch, SyncEvent.seq).where(SyncEvent.origin == site)
        .order_by(SyncEvent.epoch.desc(), SyncEvent.seq.desc()).limit(1)
    ).first()
    epoch, seq = (int(newest[0]), int(newest[1])) if newest is not None else (0, 0)
    revoke_key(session, hub_key, Revocation(key_id, site, epoch, seq), now=now,
               by="re-enrolment")
