"""Random schedules for the fault harness (hypothesis), and the two profiles that run them.

``faults-ci`` keeps the whole package within a few minutes on two cores; ``faults-long`` is
what ``bench/faults_long.py`` runs. Step kinds are drawn with weights so that, within the CI
profile's examples, every fault and every crash point is reached (the coverage test checks).
"""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.faults.faults import CRASH_POINTS, LINK_FAULTS, NONE, PARENT_MID_SCAN
from tests.faults.harness import (
    CrashAt,
    Exchange,
    Forge,
    Publish,
    Register,
    Restore,
    Revoke,
    Snapshot,
    Step,
    Tick,
)


def _without_source_constants() -> None:
    """Hypothesis now and then draws a constant found in the project's own modules, from a
    pool that grows with every module imported so far. The derandomised CI schedules then
    change with unrelated code and with the order tests run in (the coverage counts went
    from passing alone to failing in the whole suite). Drawing only Hypothesis's built-in
    constants keeps them a function of this package. Private API: if it moves, this does
    nothing and the coverage test says so when counts drop."""
    from hypothesis.internal.conjecture import providers

    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        providers._get_local_constants = providers.Constants  # type: ignore[attr-defined]


_without_source_constants()

CI_EXAMPLES = int(os.environ.get("SANJI_FAULTS_EXAMPLES", "40"))
PG_EXAMPLES = 8
MIN_STEPS = 12
MAX_STEPS = 40

settings.register_profile(  # the same schedules every run: the coverage counts are stable
    "faults-ci", max_examples=CI_EXAMPLES, deadline=None, print_blob=True, derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "faults-long", max_examples=10_000, deadline=None, print_blob=True,
    suppress_health_check=list(HealthCheck))

KINDS = ("register",) * 5 + ("scan",) * 3 + ("exchange",) * 6 + ("fault",) * 7 + (
    "crash",) * 7 + ("snapshot", "restore", "tick", "tick", "revoke", "publish", "forge")


def decode(seed: int) -> Step:
    """The step a seed stands for. Hypothesis draws the seeds (and shrinks the list); the
    seed, salted with its position, spreads evenly over the kinds, where hypothesis's own
    draws favour repeating one value within an example."""
    rnd = random.Random(seed)
    kind, site, arg = rnd.choice(KINDS), rnd.randrange(8), rnd.randrange(100)
    if kind in ("register", "scan"):
        return Register(site, scan=kind == "scan")
    if kind == "exchange":
        return Exchange(site, NONE)
    if kind == "fault":
        return Exchange(site, rnd.choice(LINK_FAULTS), arg)
    if kind == "crash":
        # a scan chunk is on the wire in few exchanges: that point is drawn twice as often
        return CrashAt(site, rnd.choice((*CRASH_POINTS, PARENT_MID_SCAN)))
    if kind == "snapshot":
        return Snapshot(site)
    if kind == "restore":
        return Restore(site, arg)
    if kind == "tick":
        return Tick(rnd.choice([1, 30, 200, 400, 3_600]))
    if kind == "revoke":
        return Revoke()
    if kind == "publish":
        return Publish()
    return Forge(site)


def _steps(seeds: list[int]) -> list[Step]:
    return [decode(seed * 1_000_003 + i) for i, seed in enumerate(seeds)]


schedules = st.lists(st.integers(0, 2**32 - 1), min_size=MIN_STEPS, max_size=MAX_STEPS).map(_steps)

INSIDE = st.integers(-240_000, 240_000)
OUTSIDE = st.tuples(st.sampled_from([-1, 1]), st.integers(600_000, 5_400_000)).map(
    lambda t: t[0] * t[1])


def skews(sites: int) -> st.SearchStrategy[list[int]]:
    """Each site's clock error in ms: mostly inside the 5-minute window, some far outside
    (the protocol's offset correction must bring them in)."""
    one = st.one_of(INSIDE, INSIDE, INSIDE, OUTSIDE)
    return st.lists(one, min_size=sites, max_size=sites)
