"""Red cards for a decision made against the rules of the window (电子监察: 违规亮红牌).

The workflow lets a window refuse an accepted case at once (a plain refusal may not wait for
two people), but a refusal after acceptance is a decision, and 一审一核 asks a review by one
operator and a check by another before any decision. Such a refusal is allowed and recorded
with a red card the deciding site raises in the same transaction, counted against the window
like any card; the window may appeal it. A refusal without a written reason cannot happen:
every refusal's payload needs one (``check_reason``), so it is refused at the edge instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.case_state import CaseState, Status, apply

NO_REVIEW_CHECK = "no_review_check"
SYSTEM = EventActor("system", Role.SYSTEM)
REASON_NO_REVIEW = "受理后未经审核、核准即作出不予许可决定（违反一审一核）"


def violation_cards(before: CaseState, drafts: Sequence[EventDraft],
                    now: datetime) -> list[EventDraft]:
    """The red cards the ``drafts`` (one action's events, applied in order to ``before``)
    earn: a refusal made while the case was accepted and not yet reviewed."""
    cards: list[EventDraft] = []
    state = before
    for draft in drafts:
        if draft.type is EventType.REJECTED and state.state is Status.ACCEPTED:
            cards.append(EventDraft(EventType.SIGNALLED, SYSTEM, now, {
                "kind": "red_card", "rule": NO_REVIEW_CHECK, "reason": REASON_NO_REVIEW}))
        state = apply(state, draft)
    return cards
