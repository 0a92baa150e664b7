"""The hub restored from an older backup while the village keeps registering: a copy of the
hub's data directory (SQLite database, keys, scans) is taken with the hub stopped, cases go
on moving for a while, then the copy is put back and the hub restarted as deploy/ says
(``sanji hub init --new-epoch``). After syncs every case is at the hub once: what the copy
lacked came back up from the township's retained events.

The hub's own events of those cases (``received``, ``routed``) that had already gone down
before the restore are handed back by the township (feature 5) with the re-sent cases, so
the restored hub does not route them again: the village sees each case routed once."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from tests.integration.city import city
from tests.integration.fault_city import (
    OPERATORS,
    Tally,
    count,
    register,
    settle,
)
from tests.integration.processes import sanji


def restore_once(tmp_path: Path, rng: random.Random) -> Tally:
    """One run: cases before the backup, after it (lost with the hub's disk), and while and
    after it is restored."""
    tally = Tally(runs=1)
    with city(tmp_path, OPERATORS) as tree:
        hub_dir = tree.dirs["hub"]
        case_ids = [register(tree, f"before-{n}") for n in range(rng.randint(1, 3))]
        settle(tree, tally)
        tree.hub.stop()
        backup = tmp_path / "hub-backup"
        shutil.copytree(hub_dir, backup)
        tree.hub.start()
        case_ids += [register(tree, f"after-backup-{n}") for n in range(rng.randint(1, 4))]
        settle(tree, tally)
        tree.hub.stop()
        shutil.rmtree(hub_dir)
        shutil.copytree(backup, hub_dir)
        case_ids += [register(tree, f"during-restore-{n}") for n in range(rng.randint(0, 2))]
        sanji("hub", "init", "--data-dir", str(hub_dir), "--new-epoch")
        tree.hub.start()
        case_ids += [register(tree, f"after-restore-{n}") for n in range(rng.randint(1, 2))]
        settle(tree, tally)
        count(tree, case_ids, tally)
    return tally


def test_a_hub_restored_from_an_older_backup_gets_every_case_back_once(
    tmp_path: Path,
) -> None:
    tally = restore_once(tmp_path, random.Random(3))
    assert tally.clean, tally.notes
