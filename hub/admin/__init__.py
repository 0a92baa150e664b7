"""The hub's administration pages (管理): the tree of sites (:mod:`hub.admin.sites`), the users
(:mod:`hub.admin.users`), the releases (:mod:`hub.admin.releases`) and the audit log of
full-record views (:mod:`hub.admin.record_views`).

Operators of the city centre run the tree from here instead of the ``sanji hub`` commands:
add a site and hand its one-time enrolment code to whoever installs the PC, issue a new code
when a village PC is replaced, move a site under another parent, add users, publish a
catalogue. Admins and supervisors may look; only admins change anything. Like the window
pages these are plain server-rendered HTML with a few hundred bytes of inline CSS and no
script, every page far below 60 KB (long lists are paged) so it opens over a 64 kbit/s link;
every form carries the session's CSRF token (:mod:`shared.web.security_policy`).
The texts are :mod:`hub.i18n`'s: Chinese by default, English with ``?lang=en``.

The domain rules live where the CLI uses them too (:mod:`hub.sites`, :func:`add_user`,
:func:`import_catalogue`); a refusal is shown on the page with every problem it lists. One-time
secrets (enrolment codes, TOTP secrets) appear only in the answer to the form that made them:
never in a redirect, the session cookie or a cache.

The ``admin`` blueprint and what the areas share are in :mod:`hub.admin.blueprint`; importing
this package imports every area, which registers its routes on it.
"""

from __future__ import annotations

from flask import redirect, url_for
from flask.typing import ResponseReturnValue

from hub.admin import record_views, release_banner, releases, sites, users
from hub.admin.blueprint import VIEW_ROLES, bp
from shared.web.sign_in import require_user

__all__ = ["bp", "record_views", "release_banner", "releases", "sites", "users"]


@bp.get("/admin")
@require_user(*VIEW_ROLES)
def home() -> ResponseReturnValue:
    """The map of the tree, the page an operator opens most."""
    return redirect(url_for(".sites"))
