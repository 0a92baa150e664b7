"""Release contents: what the hub checked is exactly what every site parses."""

from __future__ import annotations

from importlib.resources import files

import pytest

from shared.domain.errors import InvalidInput, Problems
from shared.domain.release_content import (
    calendar_from_release_content,
    calendar_release_content,
    catalogue_from_release,
    catalogue_release_content,
)
from shared.domain.working_days import YearCalendar


def sample_text() -> bytes:
    return (files("shared.domain") / "data" / "sample_catalogue.yaml").read_bytes()


def test_catalogue_round_trips_through_release_content() -> None:
    catalogue, content = catalogue_release_content(sample_text(), "yaml")
    assert catalogue_from_release(content) == catalogue
    assert content == catalogue_release_content(content, "json")[1]  # deterministic


def test_an_inconsistent_catalogue_gives_no_content_and_lists_every_problem() -> None:
    text = sample_text().decode().replace("promised_days: 20", "promised_days: 999", 1)
    text = text.replace("department: MZ", "department: NOPE", 1)
    with pytest.raises(Problems) as caught:
        catalogue_release_content(text, "yaml")
    assert len(caught.value.fields) >= 2


def test_calendar_round_trips_and_garbage_is_refused() -> None:
    from datetime import date

    year = YearCalendar(
        year=2027,
        holidays={date(2027, 1, 1): "元旦"},
        workdays={},
        source="test",
        version=3,
    )
    assert calendar_from_release_content(calendar_release_content(year)) == year
    with pytest.raises(InvalidInput):
        calendar_from_release_content(b"\xff not json")
