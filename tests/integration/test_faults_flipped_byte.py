"""A flipped bit in a stored event, not an edited value: one bit of the bytes a site stored
for an event (its payload as sealed at the village or as JSON at the hub, its hash, the hash
it links to, its signature or key id) is flipped in the database, and ``sanji audit verify``
names the case and the event (exit 1), never crashes."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.integration.city import VILLAGE, Tree, city
from tests.integration.fault_city import OPERATORS, Tally, register, settle

COLUMNS = ("payload", "hash", "prev_hash", "signature", "key_id")
FILES = {"hub": "hub.sqlite", "village": "node.sqlite"}


def _audit(tree: Tree, site: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sanji_cli", "audit", "verify", "--data-dir",
                           str(tree.dirs[site])], capture_output=True, text=True, timeout=300)


def flip_and_audit(tree: Tree, site: str, case_id: str, column: str, rng: random.Random,
                   tally: Tally) -> None:
    """Flip one bit of ``column`` of the case's ``registered`` event at ``site``, audit,
    put the byte back."""
    with sqlite3.connect(tree.dirs[site] / FILES[site]) as db:
        row_id, seq, value = db.execute(
            f"SELECT id, seq, {column} FROM sync_events WHERE origin = ? AND type = "
            "'registered' AND case_id = ?", (VILLAGE, case_id.replace("-", ""))).fetchone()
        at = rng.randrange(len(value))
        damaged = bytearray(value)
        damaged[at] ^= 1 << rng.randrange(8)
        db.execute(f"UPDATE sync_events SET {column} = ? WHERE id = ?",
                   (bytes(damaged), row_id))
    try:
        audit = _audit(tree, site)
    finally:
        with sqlite3.connect(tree.dirs[site] / FILES[site]) as db:
            db.execute(f"UPDATE sync_events SET {column} = ? WHERE id = ?",
                       (value, row_id))
    named = f"case {case_id} event {VILLAGE}/1/{seq}"
    if audit.returncode != 1 or named not in audit.stdout or "Traceback" in audit.stderr:
        tally.flag(f"{site} {column} byte {at}: exit {audit.returncode}, "
                   f"{audit.stdout[-300:]} {audit.stderr[-300:]}")


def flipped_bytes_once(tmp_path: Path, rng: random.Random, flips: int = 4) -> Tally:
    """One run: ``flips`` random bits at the hub and at the village, each audited alone."""
    tally = Tally(runs=1)
    with city(tmp_path, OPERATORS) as tree:
        case_id = register(tree, "flip")
        settle(tree, tally)
        for site in ("hub", "village"):
            if _audit(tree, site).returncode != 0:
                tally.flag(f"{site} audit failed before any flip")
            for n in range(flips):
                column = COLUMNS[n % len(COLUMNS)] if flips >= len(COLUMNS) \
                    else rng.choice(COLUMNS)
                flip_and_audit(tree, site, case_id, column, rng, tally)
            if _audit(tree, site).returncode != 0:
                tally.flag(f"{site} audit failed after the bytes were put back")
    return tally


def test_a_flipped_bit_is_named_by_the_audit(tmp_path: Path) -> None:
    tally = flipped_bytes_once(tmp_path, random.Random(7), flips=len(COLUMNS))
    assert tally.clean, tally.notes
