"""A TCP connection cut in the middle of a request and in the middle of an answer, on the
village's link to its township and on the township's link to the hub (real processes, a
proxy on 127.0.0.1 between them). The exchange fails, the next one carries on, and every case
is shown once at the hub, in the window's queue and at the village."""

from __future__ import annotations

import random
from pathlib import Path

from tests.integration.city import city
from tests.integration.fault_city import (
    OPERATORS,
    Tally,
    count,
    point_parent,
    register,
    settle,
    sync_may_fail,
)
from tests.integration.tcp_proxy import Fault, TcpProxy

# (link, what is cut, after how many bytes): the fixed points the CI run checks. A village's
# one-case exchange is small (about 150 B of HTTP head and 150-300 B of frame each way, the
# request compressed against the link's history), so its cuts fall early: inside the head
# (60) and inside the frame (200 up, 160 down).
CUTS = (("village", "request", 200), ("village", "answer", 60), ("village", "answer", 160),
        ("township", "request", 90), ("township", "answer", 400))


def link_cuts_once(tmp_path: Path, rng: random.Random | None = None) -> Tally:
    """One run: every cut of :data:`CUTS` (random byte counts with ``rng``)."""
    tally = Tally(runs=1)
    with city(tmp_path, OPERATORS) as tree:
        proxies = {"village": TcpProxy(tree.township.port), "township": TcpProxy(tree.hub.port)}
        try:
            for name, proxy in proxies.items():
                point_parent(tree.dirs[name], proxy.url)
            # first contact answers completely (every chain the parent holds), which would
            # mend a child's wrong ack by itself: the cuts happen on links past it
            case_ids = [register(tree, "warm-up")]
            settle(tree, tally)
            for n, (link, side, at) in enumerate(CUTS):
                if rng is not None:  # the village's requests and answers weigh a few hundred
                    at = rng.randint(1, 250 if side == "request" else 200)  # bytes here
                case_ids.append(register(tree, f"cut-{n}"))
                if link == "township":
                    sync_may_fail(tree.dirs["village"])  # the case reaches the township
                proxy = proxies[link]
                fired = len(proxy.fired)
                proxy.arm(Fault(request_bytes=at) if side == "request"
                          else Fault(answer_bytes=at))
                cut = sync_may_fail(tree.dirs[link])
                if len(proxy.fired) == fired:
                    tally.notes.append(f"{link} {side} cut at {at} not reached")
                    if rng is None:
                        tally.flag(f"{link} {side} cut at {at} not reached")
                elif cut.returncode == 0:
                    tally.flag(f"{link}: sync-now succeeded through a cut {side}")
                elif "Traceback" in cut.stderr:
                    tally.flag(f"{link}: sync-now crashed: {cut.stderr[-500:]}")
            settle(tree, tally)
            count(tree, case_ids, tally)
        finally:
            for proxy in proxies.values():
                proxy.close()
    return tally


def test_a_cut_request_or_answer_loses_and_doubles_nothing(tmp_path: Path) -> None:
    tally = link_cuts_once(tmp_path)
    assert tally.clean, tally.notes
