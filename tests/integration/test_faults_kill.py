"""kill -9 during exchanges, not between them: a village node whose own sync job is talking
to its township, the township while a village's exchange is in flight, the township's
``sync-now`` while it talks to the hub, and the hub while a township's exchange is in flight.
Each is killed a random short time after its exchange's first bytes crossed a proxy on
127.0.0.1, restarted, and the tree synced until quiet: every case is shown once everywhere."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.city import Tree, city
from tests.integration.fault_city import (
    OPERATORS,
    Tally,
    count,
    point_parent,
    register,
    set_sync_interval,
    settle,
    start_sync,
    sync_may_fail,
)
from tests.integration.tcp_proxy import Fault, TcpProxy

EXCHANGE_SECONDS = 120.0
MAX_DELAY = 0.4  # an exchange of a few cases takes some tenths of a second here


def _in_flight(proxy: TcpProxy, rng: random.Random) -> None:
    """Return a random short time after the next exchange's first bytes reached the proxy."""
    assert proxy.request_seen.wait(EXCHANGE_SECONDS), "no exchange started"
    time.sleep(rng.uniform(0, MAX_DELAY))  # the fault's moment, not a synchronisation


def _finish(process: subprocess.Popen[bytes]) -> None:
    process.wait(timeout=EXCHANGE_SECONDS)


def _kill_village_job(tree: Tree, proxy: TcpProxy, rng: random.Random) -> None:
    tree.village.stop()
    set_sync_interval(tree.village, 1)
    proxy.arm(Fault())
    tree.village.start()
    tree.agent()  # restarted, the village syncs once an agent has signed in
    _in_flight(proxy, rng)
    tree.village.kill()
    set_sync_interval(tree.village, 0)
    tree.village.start()


def _kill_township_serving(tree: Tree, proxy: TcpProxy, rng: random.Random) -> None:
    proxy.arm(Fault())
    syncing = start_sync(tree.dirs["village"])
    _in_flight(proxy, rng)
    tree.township.kill()
    _finish(syncing)
    tree.township.start()


def _kill_township_syncing(tree: Tree, proxy: TcpProxy, rng: random.Random) -> None:
    sync_may_fail(tree.dirs["village"])
    proxy.arm(Fault())
    syncing = start_sync(tree.dirs["township"])
    _in_flight(proxy, rng)
    syncing.send_signal(signal.SIGKILL)
    _finish(syncing)


def _kill_hub_serving(tree: Tree, proxy: TcpProxy, rng: random.Random) -> None:
    sync_may_fail(tree.dirs["village"])
    proxy.arm(Fault())
    syncing = start_sync(tree.dirs["township"])
    _in_flight(proxy, rng)
    tree.hub.kill()
    _finish(syncing)
    tree.hub.start()


def kills_once(tmp_path: Path, rng: random.Random) -> Tally:
    """One run: each of the four kills, with cases waiting to move before each."""
    tally = Tally(runs=1)
    with city(tmp_path, OPERATORS) as tree:
        up, top = TcpProxy(tree.township.port), TcpProxy(tree.hub.port)
        try:
            point_parent(tree.dirs["village"], up.url)
            point_parent(tree.dirs["township"], top.url)
            # past first contact, whose complete answer would mend a wrong ack by itself
            case_ids = [register(tree, "warm-up")]
            settle(tree, tally)
            for n, (kill, proxy) in enumerate(((_kill_village_job, up),
                                               (_kill_township_serving, up),
                                               (_kill_township_syncing, top),
                                               (_kill_hub_serving, top))):
                case_ids += [register(tree, f"kill-{n}-{k}") for k in range(3)]
                kill(tree, proxy, rng)
            case_ids.append(register(tree, "after-the-kills"))
            settle(tree, tally)
            count(tree, case_ids, tally)
        finally:
            up.close()
            top.close()
    return tally


def test_processes_killed_mid_exchange_lose_and_double_nothing(tmp_path: Path) -> None:
    tally = kills_once(tmp_path, random.Random(20261204))
    assert tally.clean, tally.notes
