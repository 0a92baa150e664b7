"""The checker can fail: each deliberately broken variant of the glue, made inside the test
only, is run on a schedule that the production glue passes, and the checker must report
what the variant loses or doubles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from shared.exchange import child as child_glue
from shared.storage import sync_store as store
from sync_protocol import Event
from tests.faults.faults import PARENT_BEFORE_COMMIT
from tests.faults.harness import (
    CrashAt,
    Exchange,
    Register,
    Restore,
    Snapshot,
    Step,
    Variant,
    run_schedule,
)

# depth 3: children are [township, village 201, village 202]; relays are [hub, township]
TOWNSHIP, VILLAGE = 0, 1

BACK_THROUGH_A_RESTORED_RELAY: list[Step] = [
    Register(0), Exchange(VILLAGE), Exchange(TOWNSHIP), Exchange(TOWNSHIP),
    Exchange(VILLAGE), Restore(1, 0), Exchange(TOWNSHIP)]
"""A decision reaches the village, then reaches it again through a restored township."""

ACK_LOST_IN_A_CRASH: list[Step] = [Register(0), CrashAt(VILLAGE, PARENT_BEFORE_COMMIT)]

RESTORED_RELAY_MISSES_LATER_EVENTS: list[Step] = [
    Register(0), Exchange(VILLAGE), Snapshot(1), Register(0), Register(0), Exchange(VILLAGE),
    Restore(1, 1)]
"""The township goes back to holding the village's first event only."""


def _production(tmp_path: Path, steps: Sequence[Step]) -> None:
    run = run_schedule(tmp_path / "production", steps)
    assert run.totals.ok and run.totals.expected > 0, run.totals.problems


def test_deduplication_off_is_reported_as_duplicated(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _production(tmp_path, BACK_THROUGH_A_RESTORED_RELAY)
    real = store.store_received_many

    def every_event(session: object, sealer: object, events: Sequence[Event], *, up: bool,
                    now_ms: int) -> list[Event]:
        real(session, sealer, events, up=up, now_ms=now_ms)  # type: ignore[arg-type]
        return list(events)  # as if each were new

    monkeypatch.setattr(store, "store_received_many", every_event)
    monkeypatch.setattr(child_glue, "_held", lambda session, key: False)
    run = run_schedule(tmp_path / "broken", BACK_THROUGH_A_RESTORED_RELAY)
    print(run.totals.line())
    assert run.totals.duplicated > 0, run.totals.line()


def test_acknowledging_before_the_commit_is_reported_as_lost(tmp_path: Path) -> None:
    _production(tmp_path, ACK_LOST_IN_A_CRASH)
    run = run_schedule(tmp_path / "broken", ACK_LOST_IN_A_CRASH,
                       variant=Variant("ack before commit", ack_before_commit=True))
    print(run.totals.line())
    assert run.totals.lost > 0, run.totals.line()


def test_a_watermark_off_by_one_is_reported_as_lost(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _production(tmp_path, RESTORED_RELAY_MISSES_LATER_EVENTS)
    ack_up, reopen_above = store.ack_up, store.reopen_above

    def plus_one(watermarks: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        return {chain: seq + 1 for chain, seq in watermarks.items()}

    monkeypatch.setattr(store, "ack_up", lambda session, wm, now_ms: ack_up(
        session, plus_one(wm), now_ms))
    monkeypatch.setattr(store, "reopen_above", lambda session, wm: reopen_above(
        session, plus_one(wm)))
    run = run_schedule(tmp_path / "broken", RESTORED_RELAY_MISSES_LATER_EVENTS)
    print(run.totals.line())
    assert run.totals.lost > 0, run.totals.line()


def test_a_restore_that_keeps_the_old_watermarks_is_reported_as_lost(tmp_path: Path) -> None:
    _production(tmp_path, RESTORED_RELAY_MISSES_LATER_EVENTS)
    run = run_schedule(tmp_path / "broken", RESTORED_RELAY_MISSES_LATER_EVENTS,
                       variant=Variant("restore keeps epoch", restore_keeps_epoch=True))
    print(run.totals.line())
    assert run.totals.lost > 0, run.totals.line()
