"""The node's test-only clock offset is read only with ``SANJI_TEST_FAULTS=1``: a stray
variable on a real village PC changes nothing, and the offset is never written to node.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from node.services import offset_clock
from node.settings import NodeSettings


def _settings(tmp_path: Path) -> Path:
    NodeSettings(data_dir=tmp_path, site_code="431002001201", site_name="吉村代办点",
                 tier="village").write()  # type: ignore[arg-type]
    return tmp_path


def test_the_offset_is_read_only_when_faults_are_switched_on(tmp_path: Path) -> None:
    data_dir = _settings(tmp_path)
    offset = {"SANJI_TEST_CLOCK_OFFSET_SECONDS": "-18000"}
    assert NodeSettings.load(data_dir, offset).clock_offset_seconds == 0.0
    assert NodeSettings.load(data_dir, {**offset, "SANJI_TEST_FAULTS": "0"}
                             ).clock_offset_seconds == 0.0
    on = NodeSettings.load(data_dir, {**offset, "SANJI_TEST_FAULTS": "1"})
    assert on.clock_offset_seconds == -18000.0
    on.write()
    assert "clock_offset_seconds" not in json.loads((data_dir / "node.json").read_text())


def test_an_offset_clock_is_that_far_off() -> None:
    skewed = offset_clock(-18000)()
    assert abs(skewed - (datetime.now(UTC) - timedelta(hours=5))) < timedelta(seconds=5)
