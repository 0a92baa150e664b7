"""In-process estimate: what the payload digest (hash version 2) costs per event.

Version 2 of the event hash commits to a digest of one SHA-256 leaf per top-level key of
the payload, so an erased event keeps its hash (docs/protocol.md §4). This times computing
the hash of realistic registrations (``bench/wire_data.py``: ~1 KB of JSON, 8-15 form
fields) both ways, version 1 (the payload encoded whole) written out here for comparison::

    .venv/bin/python -m bench.event_hash            # 20,000 events, best of 5
"""

from __future__ import annotations

import argparse
import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bench.wire_data import registrations
from sync_protocol import statements
from sync_protocol.canonical import encode
from sync_protocol.events import event_hash


def _version_1(prev: bytes, case_id: uuid.UUID, payload: dict[str, Any]) -> bytes:
    body = encode([1, prev, case_id.bytes, "431002001201", 1, 7, "agent1", 1_700_000_000_000,
                   "registered", payload])
    return hashlib.sha256(body).digest()


def _version_2(prev: bytes, case_id: uuid.UUID, payload: dict[str, Any]) -> bytes:
    return event_hash(prev, case_id, "431002001201", 1, 7, "agent1", 1_700_000_000_000,
                      "registered", payload)


def _best(fn: Callable[[bytes, uuid.UUID, dict[str, Any]], bytes],
          cases: Sequence[tuple[uuid.UUID, dict[str, Any]]], rounds: int) -> float:
    best = float("inf")
    prev = b"\0" * 32
    for _ in range(rounds):
        start = time.perf_counter()
        for case_id, payload in cases:
            fn(prev, case_id, payload)
        best = min(best, time.perf_counter() - start)
    return best / len(cases)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    cases = [(uuid.UUID(r["case_id"]), r["payload"]) for r in registrations(args.events)]
    assert statements.EVENT == 2
    old = _best(_version_1, cases, args.rounds)
    new = _best(_version_2, cases, args.rounds)
    print(f"{len(cases)} registrations, best of {args.rounds} (in-process estimate)")
    print(f"  version 1 (payload encoded whole): {old * 1e6:7.1f} us per event")
    print(f"  version 2 (payload digest):        {new * 1e6:7.1f} us per event "
          f"(+{(new - old) * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
