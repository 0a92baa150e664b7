"""Random schedules of faults over the production glue keep the central promise: every event
is applied exactly once at every site it is meant for, every decision once at its village,
nothing forged or revoked is taken in, and the newest releases reach every site.

Each test also checks that its own examples reached every fault kind and crash point at least
``MIN_REACHED`` times: a fault that is never reached proves nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.faults.faults import Reached
from tests.faults.harness import Step, run_schedule, tree_codes
from tests.faults.schedules import PG_EXAMPLES, schedules, skews

MIN_REACHED = 3


def _run_many(depth: int, pg_url: str | None, reached: Reached) -> None:
    @settings(settings.get_profile("faults-ci"))
    @given(steps=schedules, clocks=skews(len(tree_codes(depth))))
    def one(steps: list[Step], clocks: list[int]) -> None:
        with tempfile.TemporaryDirectory(prefix="faults-") as root:
            run = run_schedule(Path(root), steps, depth=depth, skews_ms=clocks, pg_url=pg_url)
        reached.add(run.reached)
        print(f"depth {depth}: {len(steps)} steps: {run.totals.line()}")
        assert run.totals.ok, run.totals.problems

    one()


@pytest.mark.parametrize("depth", [3, 4])
def test_every_event_applied_exactly_once_under_faults(depth: int) -> None:
    reached = Reached()
    _run_many(depth, None, reached)
    print(dict(sorted(reached.counts.items())))
    assert not reached.missing(MIN_REACHED), reached.missing(MIN_REACHED)


@pytest.mark.postgres
def test_hub_on_postgresql(pg_available: str) -> None:
    """The hub on PostgreSQL (a schema of its own per schedule), fewer schedules."""
    reached = Reached()

    @settings(settings.get_profile("faults-ci"), max_examples=PG_EXAMPLES)
    @given(steps=schedules, clocks=skews(4))
    def one(steps: list[Step], clocks: list[int]) -> None:
        with tempfile.TemporaryDirectory(prefix="faults-") as root:
            run = run_schedule(Path(root), steps, depth=3, skews_ms=clocks, pg_url=pg_available)
        reached.add(run.reached)
        assert run.totals.ok, run.totals.problems

    one()


def test_skews_strategy_covers_both_sides_of_the_window() -> None:
    @settings(max_examples=30, deadline=None)
    @given(st.data())
    def one(data: st.DataObject) -> None:
        values = data.draw(skews(4))
        assert len(values) == 4 and all(abs(v) <= 5_400_000 for v in values)

    one()
