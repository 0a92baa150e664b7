"""A site's own calendar overrides: read from its data directory, checked in full, refused
when they name another site, and counted by the hub's and a node's deadlines."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from shared.domain.errors import DomainError
from shared.domain.working_days import NO_OVERRIDES
from shared.storage.calendar_overrides import OVERRIDES_FILE, load_overrides

HUB = "431000"
LOCAL = {"site": HUB, "version": 1, "holidays": [{"date": "2026-05-20", "name": "地方节日"}],
         "workdays": []}
ACCEPTED = datetime(2026, 4, 28, 2, tzinfo=UTC)  # Tuesday 28 April 2026, 10:00 in Shanghai


def test_no_file_means_no_overrides_and_a_bad_one_is_named(tmp_path: Path) -> None:
    assert load_overrides(tmp_path, HUB) is NO_OVERRIDES
    cases = {
        "{not json": "not JSON (line 1)",
        json.dumps({**LOCAL, "site": "431002"}): "for site 431002, not 431000",
        json.dumps({**LOCAL, "holidays": [{"date": "2026-02-30", "name": "x"}]}): "holidays",
        json.dumps({**LOCAL, "colour": "red"}): "colour",
    }
    for text, named in cases.items():
        (tmp_path / OVERRIDES_FILE).write_text(text, encoding="utf-8")
        with pytest.raises(DomainError) as raised:
            load_overrides(tmp_path, HUB)
        assert named in str(raised.value), (text, str(raised.value))
    (tmp_path / OVERRIDES_FILE).write_text(json.dumps(LOCAL), encoding="utf-8")
    assert load_overrides(tmp_path, HUB).holidays == {date(2026, 5, 20): "地方节日"}


def test_the_hubs_deadlines_count_its_local_holiday(tmp_path: Path) -> None:
    from hub.app import create_app
    from hub.cli import hub_group
    from hub.services import services_of
    from hub.settings import HubSettings

    data_dir = tmp_path / "hub"
    assert CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir)]).exit_code == 0
    settings = replace(HubSettings.load(data_dir), testing=True)
    plain = services_of(create_app(settings)).calendar.deadline(ACCEPTED, 20)
    (data_dir / OVERRIDES_FILE).write_text(json.dumps(LOCAL), encoding="utf-8")
    local = services_of(create_app(settings)).calendar.deadline(ACCEPTED, 20)
    assert (plain.due_date, local.due_date) == (date(2026, 5, 28), date(2026, 5, 29))
    (data_dir / OVERRIDES_FILE).write_text(json.dumps({**LOCAL, "site": "431002"}),
                                           encoding="utf-8")
    with pytest.raises(DomainError, match="not 431000"):
        create_app(settings)  # a file of another site stops the start


def test_a_nodes_deadlines_count_its_local_holiday(tmp_path: Path) -> None:
    from node.app import create_app
    from node.services import services_of
    from tests.node.conftest import init_node

    settings = init_node(tmp_path / "node")
    (settings.data_dir / OVERRIDES_FILE).write_text(
        json.dumps({**LOCAL, "site": settings.site_code}), encoding="utf-8")
    calendar = services_of(create_app(settings)).held_calendar.current()
    assert calendar.deadline(ACCEPTED, 20).due_date == date(2026, 5, 29)
