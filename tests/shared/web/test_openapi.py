"""docs/api.md names every case state and every event type the code knows."""

from __future__ import annotations

from pathlib import Path

from shared.domain.case_events import EventType
from shared.domain.case_state import Status

DOC = (Path(__file__).parents[3] / "docs" / "api.md").read_text(encoding="utf-8")


def test_every_state_and_event_type_is_documented() -> None:
    missing = [s.value for s in Status if s is not Status.NEW and f"`{s.value}`" not in DOC]
    missing += [t.value for t in EventType if f"`{t.value}`" not in DOC]
    assert missing == []
