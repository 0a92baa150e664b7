"""Red cards for fees (电子监察, 以票控费): a fee charged off the catalogue's standard, and a
case handed over while what was paid differs from what was assessed.

A payment may not be refused at the finance window (the money was taken); when it takes
what was paid above what was assessed, the deciding site records it and raises a red card
with it (``fee_off_standard``). A result is issued only once the fees are paid, unless the
item lets them be paid on collection; a case handed over while its fees are short (or
over) earns ``fee_mismatch``. Each is raised once per case, counted against the window
like any card, and the window may appeal it.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.case_state import CaseState

SYSTEM = EventActor("system", Role.SYSTEM)
REASON_OFF_STANDARD = "实收费用超出事项目录收费标准（以票控费）"
REASON_MISMATCH = "结果送达时实收费用与核定费用不一致（以票控费）"


def fee_cards(state: CaseState, *, handed_over_now: bool, now: datetime) -> list[EventDraft]:
    """The red cards ``state`` (after an action or an arrival) earns and has not had yet;
    ``handed_over_now``: the hand-over is among what just happened."""
    if state.fee_due is None or state.state.value == "withdrawn":  # no card after 撤件
        return []
    raised = {rule for _, rule, _ in state.signals}
    cards: list[EventDraft] = []
    if state.fee_paid > state.fee_due and "fee_off_standard" not in raised:
        cards.append(_card("fee_off_standard", REASON_OFF_STANDARD, now))
    if (handed_over_now and state.fee_paid != state.fee_due
            and "fee_mismatch" not in raised and not cards):
        cards.append(_card("fee_mismatch", REASON_MISMATCH, now))
    return cards


def _card(rule: str, reason: str, now: datetime) -> EventDraft:
    return EventDraft(EventType.SIGNALLED, SYSTEM, now,
                      {"kind": "red_card", "rule": rule, "reason": reason})
