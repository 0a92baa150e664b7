"""A node keeps every catalogue release it takes, by version, and prunes only the oldest
ones beyond the bound that no open case uses."""

from __future__ import annotations

import json
from pathlib import Path

from node.catalogue_store import VERSIONS_DIR, HeldCatalogue, held_versions
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.release_content import catalogue_release_content

SAMPLE = Path(__file__).parents[2] / "shared" / "domain" / "data" / "sample_catalogue.yaml"


def _content(version: int) -> bytes:
    text = SAMPLE.read_text(encoding="utf-8").replace("version: 1\n", f"version: {version}\n", 1)
    return catalogue_release_content(text, "yaml")[1]


def test_each_release_taken_is_kept_and_read_by_version(tmp_path: Path) -> None:
    held = HeldCatalogue(tmp_path)
    assert held.version(1) is not None  # the sample it offers before any release came
    assert held.oldest() is held.current()
    for version in (2, 3, 4):
        held.replace(_content(version))
    assert held.current().version == 4
    assert held_versions(tmp_path) == [2, 3, 4]
    older = held.version(2)
    assert older is not None and older.version == 2
    assert held.version(1) is not None and held.version(1) == load_sample_catalogue()
    assert held.version(9) is None
    oldest = held.oldest()
    assert oldest is not None and oldest.version == 2
    assert json.loads((tmp_path / VERSIONS_DIR / "3.json").read_bytes())["version"] == 3


def test_pruning_keeps_what_open_cases_use_and_the_newest(tmp_path: Path) -> None:
    held = HeldCatalogue(tmp_path)
    for version in range(2, 8):
        held.replace(_content(version))
    assert held.prune(in_use={2, 4}, keep=3) == [3, 5, 6]
    assert held_versions(tmp_path) == [2, 4, 7]
    assert held.version(3) is None and held.version(4) is not None
