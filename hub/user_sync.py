"""The hub's side of user sync: each change to an account becomes a hub-signed event that goes
down toward the account's site (:mod:`shared.account_events`).

Call :func:`publish_account` in the transaction that changes the account, after the change:
the event and its place in the stream toward the site commit with it, or neither does. A site
not enrolled yet has no way down (no certificate): the event stays in the hub's chain and the
grant carries the account when the site enrols. The site's registry row is locked first, so an
enrolment running at the same moment either sees the change in its grant or issues the
certificate before the event looks for the way down, never neither.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.identity import hub_key
from hub.models import HubSite
from hub.settings import HubSettings
from shared import sync_store
from shared.account_events import ACCOUNT_EVENT, account_stream
from shared.accounts import UserAccount, account_copy
from shared.exchange import SyncSite, send_down
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


def command_site(settings: HubSettings) -> SyncSite:
    """The hub as the sync layer sees it, for a ``sanji hub`` command that changes accounts
    while the hub may be serving (the same key, chain and payload form as the app's)."""
    key = hub_key(settings.key_dir, settings.site_code)
    return SyncSite(key=key, hub_site=settings.site_code, hub_public_raw=key.public_raw,
                    sealer=sync_store.PlainPayloads(), root=True)
