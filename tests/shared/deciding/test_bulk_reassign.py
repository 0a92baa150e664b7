"""A supervisor moves an absent operator's cases to a colleague in one step
(:mod:`shared.deciding.bulk_reassign`), on SQLite and PostgreSQL.

At the hub's window W-MZ-01 the absent operator holds two cases (one accepted, one not yet),
a colleague holds a third and a fourth waits unclaimed. Every moved case must get its own
``reassigned`` event; a refusal, whenever it comes, must leave every case with its holder.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from shared.deciding import bulk_reassign, case_work
from shared.deciding.bulk_reassign import BulkReassignment, reassign_all
from shared.domain.case_events import Actor, EventActor, Role
from shared.domain.catalogue import Catalogue
from shared.domain.errors import DomainError, NotFound, NotPermitted, Problems
from shared.domain.window_workflow import ActionRequest
from shared.storage import sync_store
from shared.storage.accounts import set_active
from tests.shared.deciding.test_case_projection import Desk
from tests.shared.deciding.test_case_work import (
    CALENDAR,
    CITY,
    CITY_ITEM,
    CITY_WINDOW,
    COUNTY_ITEM,
    COUNTY_WINDOW,
    NOW,
    TOWNSHIP,
    operator,
)

ABSENT, PRESENT, COLLEAGUE, GONE = "mz-review", "mz-third", "mz-check", "mz-gone"
ELSEWHERE, CASHIER, LEAD, ADMIN = "ny-desk", "mz-cashier", "city-lead", "city-admin"
STAFF = [(ABSENT, "window_operator", CITY_WINDOW), (PRESENT, "window_operator", CITY_WINDOW),
         (COLLEAGUE, "window_operator", CITY_WINDOW), (GONE, "window_operator", CITY_WINDOW),
         (ELSEWHERE, "window_operator", "W-NY-01"), (CASHIER, "finance", CITY_WINDOW),
         ("mz02-a", "window_operator", COUNTY_WINDOW),
         ("mz02-b", "window_operator", COUNTY_WINDOW),
         (LEAD, "supervisor", None), (ADMIN, "admin", None)]
SUPERVISOR = Actor(LEAD, Role.SUPERVISOR, CITY, "city")
LATER = NOW + timedelta(days=2)


class Window:
    """The hub with W-MZ-01's four cases."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        desk.add_staff(STAFF, inactive=[GONE])
        self.unaccepted, self.accepted, self.colleagues, self.waiting = (
            desk.register(at=NOW + timedelta(minutes=n)) for n in range(4))
        absent = operator(ABSENT, CITY_WINDOW)
        desk.act(absent, self.unaccepted, "claim")
        desk.act(absent, self.accepted, "claim")
        desk.act(absent, self.accepted, "accept")
        desk.act(operator(COLLEAGUE, CITY_WINDOW), self.colleagues, "claim")
        desk.clock.now = LATER

    def holders(self) -> dict[uuid.UUID, str | None]:
        """Who holds each case, as its own events say."""
        with self.desk.factory() as session:
            return {case_id: case_work.case_state(session, self.desk.site, case_id).claimed_by
                    for case_id in (self.unaccepted, self.accepted, self.colleagues,
                                    self.waiting)}

    def untouched(self) -> bool:
        return self.holders() == {self.unaccepted: ABSENT, self.accepted: ABSENT,
                                  self.colleagues: COLLEAGUE, self.waiting: None}

    def move(self, actor: Actor = SUPERVISOR, window: str = CITY_WINDOW,
             from_operator: str = ABSENT, to_operator: str = PRESENT,
             reason: str = "病假 sick leave") -> BulkReassignment:
        return move(self.desk, actor, window, from_operator, to_operator, reason)


def move(desk: Desk, actor: Actor, window: str, from_operator: str, to_operator: str,
         reason: str = "病假 sick leave") -> BulkReassignment:
    """One request, committed when it succeeds and rolled back when it is refused, as the
    window API and the queue page hold the transaction."""
    with desk.factory() as session:
        try:
            done = reassign_all(session, desk.ctx, actor, window, from_operator, to_operator,
                                reason, desk.clock())
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return done


def reassigned_count(desk: Desk) -> int:
    """``reassigned`` events in the site's store (each one written, not each case)."""
    with desk.factory() as session:
        return int(session.scalar(select(func.count()).select_from(sync_store.SyncEvent)
                                  .where(sync_store.SyncEvent.type == "reassigned")) or 0)


@pytest.fixture
def window(db_engine: Engine) -> Window:
    return Window(Desk(db_engine))


def test_every_case_the_absent_operator_holds_moves_with_its_own_event(window: Window) -> None:
    desk = window.desk
    done = window.move(reason="  病假 sick leave ")

    assert (done.window, done.from_operator, done.to_operator, done.remaining) == (
        CITY_WINDOW, ABSENT, PRESENT, 0)
    # nearest deadline first: the accepted case, then the one not yet accepted
    assert [m.case_id for m in done.moved] == [window.accepted, window.unaccepted]
    assert [m.acceptance_no for m in done.moved] == [
        "431002001201-20260302-0002", "431002001201-20260302-0001"]
    assert window.holders() == {window.unaccepted: PRESENT, window.accepted: PRESENT,
                                window.colleagues: COLLEAGUE, window.waiting: None}
    assert reassigned_count(desk) == 2
    with desk.factory() as session:
        for case_id in (window.unaccepted, window.accepted):
            last = case_work.case_events(session, desk.site, case_id)[-1]
            assert (last.type.value, last.actor, last.at, last.payload) == (
                "reassigned", EventActor(LEAD, Role.SUPERVISOR), LATER,
                {"to": PRESENT, "reason": "病假 sick leave"})
    # the queue follows at once, and the colleague can work the cases
    assert [e.case_id for e in desk.claimed(CITY_WINDOW, PRESENT)] == [
        window.accepted, window.unaccepted]
    assert desk.claimed(CITY_WINDOW, ABSENT) == []
    approved = desk.act(operator(PRESENT, CITY_WINDOW), window.accepted, "approve")
    assert approved.reviewer == PRESENT

    again = window.move()
    assert (again.moved, again.remaining) == ((), 0)
    assert reassigned_count(desk) == 2


def test_an_absent_operator_switched_off_meanwhile_still_has_the_cases_moved(
        window: Window) -> None:
    with window.desk.factory() as session:
        set_active(session, ABSENT, False)
        session.commit()
    assert len(window.move().moved) == 2
    assert set(window.holders().values()) == {PRESENT, COLLEAGUE, None}


@pytest.mark.parametrize(("actor", "window_code", "people", "error", "fields"), [
    (Actor(ADMIN, Role.ADMIN, CITY, "city"), CITY_WINDOW, (ABSENT, PRESENT), NotPermitted,
     {"role": "only a supervisor moves a window's cases in bulk"}),
    (operator(COLLEAGUE, CITY_WINDOW), CITY_WINDOW, (ABSENT, PRESENT), NotPermitted,
     {"role": "only a supervisor"}),
    (SUPERVISOR, "W-NOPE", ("nobody", "nobody"), NotFound, {"window": "no window 'W-NOPE'"}),
    (SUPERVISOR, CITY_WINDOW, ("nobody", PRESENT), Problems,
     {"from": "no user nobody at this site"}),
    (SUPERVISOR, CITY_WINDOW, (ABSENT, "nobody"), Problems,
     {"to": "no user nobody at this site"}),
    (SUPERVISOR, CITY_WINDOW, ("nobody", "nobody-else"), Problems,
     {"from": "no user nobody at this site", "to": "no user nobody-else at this site"}),
    (SUPERVISOR, CITY_WINDOW, (ELSEWHERE, PRESENT), Problems,
     {"from": "ny-desk is not an operator of window W-MZ-01"}),
    (SUPERVISOR, CITY_WINDOW, (ABSENT, ELSEWHERE), Problems,
     {"to": "ny-desk is not an operator of window W-MZ-01"}),
    (SUPERVISOR, CITY_WINDOW, (ABSENT, CASHIER), Problems,
     {"to": "mz-cashier is not an operator of window W-MZ-01"}),
    (SUPERVISOR, CITY_WINDOW, (ABSENT, LEAD), Problems,
     {"to": "city-lead is not an operator of window W-MZ-01"}),
    (SUPERVISOR, CITY_WINDOW, (ABSENT, GONE), Problems, {"to": "account is not active"}),
    (SUPERVISOR, CITY_WINDOW, (ABSENT, ABSENT), Problems,
     {"to": "the same operator: choose a colleague"}),
    (SUPERVISOR, CITY_WINDOW, (ABSENT, ""), Problems, {"to": "required"}),
    (Actor("t-lead", Role.SUPERVISOR, TOWNSHIP, "township"), CITY_WINDOW, (ABSENT, PRESENT),
     Problems, {"from": "no user mz-review at this site", "to": "no user mz-third"}),
], ids=["admin", "operator", "unknown-window", "unknown-from", "unknown-to", "both-unknown",
        "from-elsewhere", "to-elsewhere", "to-cashier", "to-supervisor", "to-switched-off",
        "same-person", "to-blank", "supervisor-of-another-site"])
def test_a_refused_request_names_why_and_leaves_every_case_with_its_holder(
        window: Window, actor: Actor, window_code: str, people: tuple[str, str],
        error: type[DomainError], fields: dict[str, str]) -> None:
    with pytest.raises(error) as refused:
        window.move(actor, window_code, *people)
    if isinstance(refused.value, Problems):
        assert set(refused.value.fields) == set(fields)
        for name, text in fields.items():
            assert text in refused.value.fields[name]
    else:
        [(name, text)] = fields.items()
        assert refused.value.field == name and text in refused.value.reason
    assert window.untouched()
    assert reassigned_count(window.desk) == 0


def test_a_case_the_queue_still_shows_under_the_absent_operator_is_left_with_its_holder(
        window: Window) -> None:
    """The queue may lag an event applied a moment ago: the case's own events decide, so a
    case the absent operator let go and a colleague took is not taken from the colleague."""
    desk = window.desk
    with desk.factory() as session:  # applied, but the queue not refreshed yet
        for actor, action in ((operator(ABSENT, CITY_WINDOW), "release_claim"),
                              (operator(COLLEAGUE, CITY_WINDOW), "claim")):
            case_work.act(session, desk.site, desk.catalogue, CALENDAR, actor,
                          window.unaccepted, ActionRequest(action), NOW)
        session.commit()
    assert [e.case_id for e in desk.claimed(CITY_WINDOW, ABSENT)] == [
        window.accepted, window.unaccepted]

    done = window.move()
    assert [m.case_id for m in done.moved] == [window.accepted]
    assert window.holders()[window.unaccepted] == COLLEAGUE
    assert reassigned_count(desk) == 1


def retired(catalogue: Catalogue, item_code: str) -> Catalogue:
    """The next catalogue release, without ``item_code``."""
    return dataclasses.replace(catalogue, version=catalogue.version + 1,
                               items=tuple(i for i in catalogue.items if i.code != item_code))


def test_a_refusal_half_way_through_moves_none(db_engine: Engine) -> None:
    """All or none: the second case cannot be worked any more (its item left the catalogue
    in the new release), so the first, already moved in the transaction, stays too."""
    desk = Desk(db_engine)
    desk.add_staff(STAFF)
    first = desk.register(COUNTY_ITEM)  # 城乡居民最低生活保障申请, W-MZ-02
    second = desk.register("MZ-0203", at=NOW + timedelta(minutes=1))  # the same window
    absent = operator("mz02-a", COUNTY_WINDOW)
    for case_id in (first, second):
        desk.act(absent, case_id, "claim")
    desk.catalogue = retired(desk.catalogue, "MZ-0203")

    with pytest.raises(NotFound) as refused:
        move(desk, SUPERVISOR, COUNTY_WINDOW, "mz02-a", "mz02-b")
    assert (refused.value.field, refused.value.reason) == (
        "item_code", "no service item 'MZ-0203' in catalogue v2")
    assert [e.case_id for e in desk.claimed(COUNTY_WINDOW, "mz02-a")] == [first, second]
    with desk.factory() as session:
        assert [case_work.case_state(session, desk.site, c).claimed_by
                for c in (first, second)] == ["mz02-a", "mz02-a"]
    assert reassigned_count(desk) == 0


def test_a_long_list_is_moved_a_request_at_a_time(window: Window,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """At most :data:`MAX_CASES` a request; ``remaining`` says what the next one moves."""
    desk = window.desk
    absent = operator(ABSENT, CITY_WINDOW)
    more = [desk.register(at=NOW + timedelta(minutes=10 + n)) for n in range(3)]
    for case_id in more:
        desk.act(absent, case_id, "claim")
    monkeypatch.setattr(bulk_reassign, "MAX_CASES", 2)

    moved: list[uuid.UUID] = []
    answers: list[tuple[int, int]] = []
    for _ in range(4):
        done = window.move()
        moved += [m.case_id for m in done.moved]
        answers.append((len(done.moved), done.remaining))
    assert answers == [(2, 2), (2, 1), (1, 0), (0, 0)]
    assert moved == [window.accepted, window.unaccepted, *more]
    assert reassigned_count(desk) == 5
    assert desk.claimed(CITY_WINDOW, ABSENT) == []


def test_a_request_moves_at_most_two_hundred_cases(db_engine: Engine) -> None:
    """The contract's limit itself: of 201 held cases one request moves 200 and says one
    remains; the next moves it."""
    desk = Desk(db_engine)
    desk.add_staff(STAFF)
    held = [desk.village.register(CITY_ITEM, NOW + timedelta(seconds=n))
            for n in range(bulk_reassign.MAX_CASES + 1)]
    desk.arrive(*held)  # one exchange brought them all
    absent = operator(ABSENT, CITY_WINDOW)
    with desk.factory() as session:
        for registration in held:
            case_work.act(session, desk.site, desk.catalogue, CALENDAR, absent,
                          registration.case_id, ActionRequest("claim"), NOW)
            desk.store.refresh(session, registration.case_id, NOW)
        session.commit()

    first = move(desk, SUPERVISOR, CITY_WINDOW, ABSENT, PRESENT)
    assert (bulk_reassign.MAX_CASES, len(first.moved), first.remaining) == (200, 200, 1)
    assert [m.case_id for m in first.moved] == [r.case_id for r in held[:200]]
    second = move(desk, SUPERVISOR, CITY_WINDOW, ABSENT, PRESENT)
    assert ([m.case_id for m in second.moved], second.remaining) == ([held[200].case_id], 0)
    assert reassigned_count(desk) == 201


def test_the_forms_choices_are_the_active_operators_of_the_window(window: Window) -> None:
    """The supervisor chooses among the window's active operators at this site, nobody
    else."""
    with window.desk.factory() as session:
        assert bulk_reassign.window_operators(session, CITY, CITY_WINDOW) == [
            COLLEAGUE, ABSENT, PRESENT]
        assert bulk_reassign.window_operators(session, TOWNSHIP, CITY_WINDOW) == []
