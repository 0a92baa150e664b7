"""The hub's side of user sync: each change to an account becomes a hub-signed event that goes
down toward the account's site (:mod:`shared.exchange.account_events`).

Call :func:`publish_account` in the transaction that changes the account, after the change:
the event and its place in the stream toward the site commit with it, or neither does. A site
not enrolled yet has no way down (no certificate): the event stays in the hub's chain and the
grant carries the account when the site enrols. The site's registry row is locked first, so an
enrolment running at the same moment either sees the change in its grant or issues the
certificate before the event looks for the way down, never neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from hub.epoch import hub_epoch
from hub.identity import data_keys, hub_key
from hub.models import HubSite
from hub.settings import HubSettings
from shared.domain.errors import InvalidInput, NotFound
from shared.exchange.account_events import ACCOUNT_EVENT, account_stream
from shared.exchange.site import SyncSite
from shared.exchange.tree import send_down
from shared.storage import sync_store
from shared.storage.accounts import UserAccount, account_copy, change_role, set_active, set_password
from shared.storage.sealing import SealedPayloads
from sync_protocol.times import to_ms

CLI_ACTOR = "system:sanji-hub"
"""Who an account change made with ``sanji hub`` on the hub's own machine is recorded as."""


def publish_account(session: Session, site: SyncSite, user: UserAccount, *, actor: str,
                    now: datetime) -> bool:
    """Record ``user``'s copy as the hub's next event and queue it toward the user's site;
    True when it is on its way (False for the hub's own users and sites not enrolled yet).
    Nothing is committed here."""
    if user.site == site.code:
        return False  # the hub's own people: nothing to send anywhere
    session.get(HubSite, user.site, with_for_update=True)
    row = sync_store.author_event(
        session, site.key, site.sealer, epoch=site.epoch, case_id=account_stream(user.username),
        actor=actor, type=ACCOUNT_EVENT, payload=account_copy(user), at_ms=to_ms(now),
        up=not site.is_root, now_ms=to_ms(now),
    )
    return send_down(session, site, sync_store.as_event(row, site.sealer), user.site, now)


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What an admin changes of one account (None: left as it is). ``window`` and
    ``department`` go with ``role``."""

    active: bool | None = None
    password: str | None = None
    role: str | None = None
    window: str | None = None
    department: str | None = None


@dataclass(frozen=True, slots=True)
class ChangedAccount:
    user: UserAccount
    queued: bool
    """On its way to the user's site (False: the hub's own user, or a site not enrolled)."""
    new_secret: bool
    """The new role made a one-time-code secret: show it to the person once."""


def change_account(session: Session, site: SyncSite, username: str, change: AccountChange,
                   *, actor: str, now: datetime) -> ChangedAccount:
    """Apply ``change`` (role first, then password, then enabled or not) and publish the
    account once; a refused change raises before anything is published. The caller
    commits."""
    if change.role is None and (change.window is not None or change.department is not None):
        raise InvalidInput("role", "a window or department goes with a role")
    if change.role is None and change.password is None and change.active is None:
        raise InvalidInput("", "nothing to change")
    user = session.get(UserAccount, username)
    if user is None:
        raise NotFound("username", f"no user {username}")
    had_secret = user.totp_secret is not None
    if change.role is not None:
        change_role(session, username, role=change.role, window=change.window,
                    department=change.department)
    if change.password is not None:
        set_password(session, username, change.password)
    if change.active is not None:
        set_active(session, username, change.active)
    queued = publish_account(session, site, user, actor=actor, now=now)
    return ChangedAccount(user, queued, new_secret=not had_secret and user.totp_secret is not None)


def command_site(settings: HubSettings, session: Session) -> SyncSite:
    """The hub as the sync layer sees it, for a ``sanji hub`` command that changes accounts
    while the hub may be serving (the same key, chain, epoch and payload form as the app's)."""
    key = hub_key(settings.key_dir, settings.site_code)
    return SyncSite(key=key, hub_site=settings.site_code, hub_public_raw=key.public_raw,
                    sealer=SealedPayloads(data_keys(settings.key_dir)), root=True,
                    epoch=hub_epoch(session))
