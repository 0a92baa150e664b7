"""A longer fuzzing run of the protocol's decoders than the test suite's bounded one.

Run from the repository root::

    .venv/bin/python -m bench.fuzz_decoder                 # 3 minutes, random seeds
    .venv/bin/python -m bench.fuzz_decoder --minutes 20
    .venv/bin/python -m bench.fuzz_decoder --minutes 1 --seed 7

The targets and strategies are those of ``tests/sync_protocol/test_decoder_fuzz.py``: random
bytes, a real signed frame mutated, and message-shaped CBOR values, each through every
decoder layer. Any exception that is not the protocol's ``ProtocolError`` stops the run with
the input that raised it (hypothesis shrinks it first). The run is bounded by its time
budget; it prints the examples tried per target, the peak memory traced, and the seconds.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as with_seed
from hypothesis import strategies as st

from tests.sync_protocol.test_decoder_fuzz import (
    cbor_values,
    decode_bytes,
    decode_value,
    mutated_frames,
)

TARGETS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], None]]] = {
    "random bytes": (st.binary(max_size=4096), decode_bytes),
    "mutated frames": (mutated_frames(), decode_bytes),
    "message-shaped values": (cbor_values, decode_value),
}


def run(seconds: float, seed: int | None) -> dict[str, int]:
    """Each target in turn for its share of ``seconds``; returns the examples tried."""
    tried: dict[str, int] = {}
    share = seconds / len(TARGETS)
    for name, (strategy, target) in TARGETS.items():
        counted = [0]
        deadline = time.monotonic() + share
        one = _counting(target, counted)

        # Rounds of a bounded size until the share of time is spent: every loop is bounded.
        rounds = 0
        while time.monotonic() < deadline and rounds < 10_000:
            rounds += 1
            test: Callable[[], None] = settings(
                max_examples=200, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck))(given(strategy)(one))
            if seed is not None:
                test = _seeded(test, seed + rounds)
            test()
        tried[name] = counted[0]
    return tried


def _counting(target: Callable[[Any], None], counted: list[int]) -> Callable[[Any], None]:
    def one(value: Any) -> None:
        counted[0] += 1
        target(value)
    return one


def _seeded(test: Any, seed: int) -> Any:
    return with_seed(seed)(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    tracemalloc.start()
    started = time.monotonic()
    tried = run(args.minutes * 60, args.seed)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    for name, count in tried.items():
        print(f"{name:24} {count:>9,} inputs, none raised anything but ProtocolError")
    print(f"{'total':24} {sum(tried.values()):>9,} inputs in "
          f"{time.monotonic() - started:.0f} s; peak traced memory {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
