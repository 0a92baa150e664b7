"""A supervisor moves an absent operator's cases at one window to a colleague, in one step.

When an operator is off sick, the cases they claimed wait for them. The supervisor names the
window, the absent operator and a present operator of the same window; every case of that
window the absent one holds then gets its own ``reassigned`` event through the window
workflow (:func:`shared.deciding.case_work.act`), exactly as if each had been reassigned from its
own
page: the history of every case says who moved it, when and why, and nothing is edited.

Both people are checked against the site's accounts first, so a typing slip names the field
instead of handing cases to nobody. The caller holds the transaction: every case moves, or
(on any refusal) none does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.deciding.window_context import QueueEntry, WindowContext
from shared.domain.case_events import Actor, Role
from shared.domain.errors import NotPermitted, Problems
from shared.domain.window_workflow import ActionRequest
from shared.storage.accounts import UserAccount, window_operator_problem

BULK_ROLES = frozenset({Role.SUPERVISOR})
"""Who may move a window's cases in bulk: the supervisor who answers for the window's
staffing. (Any reassignment the workflow allows stays possible case by case.)"""
MAX_CASES = 200
"""Cases moved by one request; more remain for the next (one operator rarely holds more)."""
MAX_OPERATORS = 200


@dataclass(frozen=True, slots=True)
class BulkReassignment:
    """What one bulk reassignment did."""

    window: str
    from_operator: str
    to_operator: str
    moved: tuple[QueueEntry, ...]
    remaining: int
    """Cases the absent operator still holds at the window (counted up to
    :data:`MAX_CASES`): a second request moves them."""


def window_operators(session: Session, site: str, window: str) -> list[str]:
    """The active operators of ``window`` at ``site``, by username (the form's choices)."""
    return list(session.scalars(
        select(UserAccount.username)
        .where(UserAccount.site == site, UserAccount.window == window,
               UserAccount.role == Role.WINDOW_OPERATOR.value,
               UserAccount.active.is_(True))
        .order_by(UserAccount.username).limit(MAX_OPERATORS)))


def check_request(session: Session, actor: Actor, window: str, from_operator: str,
                  to_operator: str) -> None:
    """Refuse a non-supervisor (403), or name every bad person in the request (400)."""
    if actor.role not in BULK_ROLES:
        raise NotPermitted("role", f"only a supervisor moves a window's cases in bulk, "
                                   f"not a {actor.role}")
    problems: dict[str, str] = {}
    # The absent operator's account may have been switched off meanwhile; the colleague's not.
    found = window_operator_problem(session, actor.site, window, from_operator,
                                    must_be_active=False)
    if found:
        problems["from"] = found
    found = window_operator_problem(session, actor.site, window, to_operator,
                                    must_be_active=True)
    if found:
        problems["to"] = found
    if not problems and from_operator == to_operator:
        problems["to"] = "the same operator: choose a colleague"
    if problems:
        raise Problems(problems, "the reassignment is not valid")


def reassign_all(session: Session, ctx: WindowContext, actor: Actor, window: str,
                 from_operator: str, to_operator: str, reason: str,
                 now: datetime) -> BulkReassignment:
    """Move every open case of ``window`` claimed by ``from_operator`` to ``to_operator``,
    one ``reassigned`` event each, in the caller's transaction."""
    catalogue = ctx.catalogue()
    catalogue.window(window)  # an unknown window is a 404 before anyone is looked up
    check_request(session, actor, window, from_operator, to_operator)
    held = ctx.store.claimed(session, window, from_operator, MAX_CASES + 1)
    moved: list[QueueEntry] = []
    request = ActionRequest(action="reassign", assignee=to_operator, reason=reason.strip())
    for entry in held[:MAX_CASES]:
        # The projection may lag an event applied a moment ago: the case's own fold decides.
        if case_work.case_state(session, ctx.site, entry.case_id).claimed_by != from_operator:
            continue
        case_work.act(session, ctx.site, catalogue, ctx.calendar(), actor, entry.case_id,
                      request, now, versions=ctx.versions)
        ctx.store.refresh(session, entry.case_id, now)
        moved.append(entry)
    remaining = (len(ctx.store.claimed(session, window, from_operator, MAX_CASES))
                 if len(held) > MAX_CASES else 0)
    return BulkReassignment(window, from_operator, to_operator, tuple(moved), remaining)

