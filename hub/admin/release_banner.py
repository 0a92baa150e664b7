"""The warning every admin page opens with when a release is frozen or a site lags behind.

``/metrics`` already tells a monitoring system; the operator who never looks at one must see
it too, on the page they use: the release the hub passes down has expired (every site
holding it works on in it, frozen: publish a newer one), or a direct child still holds an
older release than the one in force a day after it took effect (its link or its PC needs a
look). Nothing is shown when all is well; the banner is a few hundred bytes of HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import g
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.admin.blueprint import bp
from hub.admin.sites import direct_children
from hub.db_session import get_session
from hub.models import HubSite
from hub.releases import releases_to_send
from hub.services import services
from shared.exchange.release_watch import ReleaseWarning, passed_down_watch, release_warnings
from shared.exchange.status import child_info
from sync_protocol import Release

LOG = logging.getLogger("sanji.hub.admin")
BEHIND_GRACE = timedelta(days=1)
"""How long after a release takes effect a child may still hold an older one before the
pages warn: a village that syncs once a day has taken it by then."""
MAX_BEHIND = 10
"""Children named on the banner; the rest are counted (the releases page lists them all)."""
_CACHE = "release_warnings"


def _in_force(releases: list[Release], now: datetime) -> dict[str, Release]:
    found: dict[str, Release] = {}
    for release in sorted(releases, key=lambda r: (r.kind, r.version)):
        if release.effective_from <= now:
            found[release.kind] = release
    return found


def behind_children(session: Session, releases: list[Release], now: datetime
                    ) -> list[ReleaseWarning]:
    """Direct children that said they hold an older release than one in force for longer
    than :data:`BEHIND_GRACE` (a child that never asked is the sites page's concern)."""
    late = {kind: r for kind, r in _in_force(releases, now).items()
            if now - r.effective_from > BEHIND_GRACE}
    if not late:
        return []
    sites = list(session.scalars(select(HubSite)))
    found: list[ReleaseWarning] = []
    for code in sorted(direct_children(session, services().settings.site_code, sites)):
        known = (child_info(session, code) or {}).get("releases_known")
        if not isinstance(known, dict):
            continue
        for kind, release in sorted(late.items()):
            held = int(known.get(kind, 0))
            if held < release.version:
                found.append(ReleaseWarning("behind", kind, release.effective_from,
                                            str(held), code))
    return found


def hub_release_warnings() -> list[ReleaseWarning]:
    """This request's warnings, read once; none (logged) when the database cannot be read,
    so the banner is never the reason an admin page fails."""
    cached = g.get(_CACHE)
    if isinstance(cached, list):
        return cached
    found: list[ReleaseWarning] = []
    try:
        session = get_session()
        now = services().clock()
        releases = releases_to_send(session, now)
        found = (release_warnings(passed_down_watch(releases, now), now)
                 + behind_children(session, releases, now))
    except SQLAlchemyError as exc:
        LOG.warning("release warnings unreadable",
                    extra={"fields": {"error": type(exc).__name__}})
    setattr(g, _CACHE, found)
    return found


@bp.context_processor
def _banner() -> dict[str, Callable[[], list[ReleaseWarning]] | int]:
    # A function, not a value: only a page that shows the banner pays for its queries.
    return {"release_warnings": hub_release_warnings, "max_behind": MAX_BEHIND}
