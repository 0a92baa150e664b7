"""Whose cases a signed-in user may read: the one check views make where they load a case.

A window operator or finance clerk works one window and reads only that window's cases (and
a joint case copied to their department for its co-approval); a department head reads the
cases of their department's windows; other roles that the access
table lets reach a case at this site read any of its cases. A case out of reach is answered
exactly as an unknown id (404, the same body): the answer never tells that a case exists at
another window, let alone what it holds.
"""

from __future__ import annotations

from collections.abc import Collection

from shared.domain.catalogue import Catalogue
from shared.domain.errors import NotFound
from shared.storage.accounts import Claims

WINDOW_BOUND_ROLES = frozenset({"window_operator", "finance"})
DEPARTMENT_HEAD = "department_head"
"""Reads the cases of their department's windows (分管负责人: decides extensions)."""
UNKNOWN_CASE = "no such case at this site"
"""The message of a 404 for a case id, known or not (the same as :mod:`case_work`'s)."""


def case_in_reach(claims: Claims, window: str | None, *, department: str | None = None,
                  co_approvers: Collection[str] = (),
                  catalogue: Catalogue | None = None) -> None:
    """Raise the unknown-case 404 unless ``claims`` may read a case held at ``window``;
    ``department`` is the user's (from their window), ``co_approvers`` the departments the
    case was copied to for a joint approval. A department head reads the cases of their
    department's windows (found in ``catalogue``; without it, none)."""
    if claims.role == DEPARTMENT_HEAD:
        if claims.department is not None and (
                claims.department in co_approvers
                or window_department(catalogue, window) == claims.department):
            return
        raise NotFound("case_id", UNKNOWN_CASE)
    if claims.role not in WINDOW_BOUND_ROLES or claims.window == window:
        return
    if department is not None and department in co_approvers:
        return
    raise NotFound("case_id", UNKNOWN_CASE)


def window_department(catalogue: Catalogue | None, window: str | None) -> str | None:
    """The department whose work ``window`` does (None: no catalogue, or a window it does
    not know)."""
    if catalogue is None or window is None:
        return None
    try:
        return catalogue.window(window).department
    except NotFound:
        return None
