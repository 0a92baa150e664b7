"""Whose cases a signed-in user may read: the one check views make where they load a case.

A window operator or finance clerk works one window and reads only that window's cases (and
a joint case copied to their department for its co-approval); other roles that the access
table lets reach a case at this site read any of its cases. A case out of reach is answered
exactly as an unknown id (404, the same body): the answer never tells that a case exists at
another window, let alone what it holds.
"""

from __future__ import annotations

from collections.abc import Collection

from shared.domain.errors import NotFound
from shared.storage.accounts import Claims

WINDOW_BOUND_ROLES = frozenset({"window_operator", "finance"})
UNKNOWN_CASE = "no such case at this site"
"""The message of a 404 for a case id, known or not (the same as :mod:`case_work`'s)."""


def case_in_reach(claims: Claims, window: str | None, *, department: str | None = None,
                  co_approvers: Collection[str] = ()) -> None:
    """Raise the unknown-case 404 unless ``claims`` may read a case held at ``window``;
    ``department`` is the user's (from their window), ``co_approvers`` the departments the
    case was copied to for a joint approval."""
    if claims.role not in WINDOW_BOUND_ROLES or claims.window == window:
        return
    if department is not None and department in co_approvers:
        return
    raise NotFound("case_id", UNKNOWN_CASE)
