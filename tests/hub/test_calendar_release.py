"""``sanji hub publish-calendar``: next year's working-day calendar as a signed release,
used by the hub's own deadlines and sent down to every node."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.releases import releases_to_send
from hub.services import HubServices
from hub.settings import HubSettings
from shared.domain.release_content import calendar_from_release_content

SHIPPED = Path(__file__).parents[2] / "shared" / "domain" / "data" / "calendar" / "2027.json"


def test_a_published_calendar_is_signed_sent_down_and_used(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    runner = CliRunner()
    assert runner.invoke(hub_group, ["init", "--data-dir", str(data_dir)]).exit_code == 0
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    data["version"] = int(data.get("version", 1)) + 5
    newer = tmp_path / "2027.json"
    newer.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    done = runner.invoke(hub_group, ["publish-calendar", str(newer), "--data-dir",
                                     str(data_dir)])
    assert done.exit_code == 0, done.output
    assert f"calendar 2027 (version {data['version']}) published" in done.output
    again = runner.invoke(hub_group, ["publish-calendar", str(newer), "--data-dir",
                                      str(data_dir)])
    assert again.exit_code == 0  # a new release of the same year is fine: versions only grow
    broken = tmp_path / "broken.json"
    broken.write_text('{"year": 2027}', encoding="utf-8")
    refused = runner.invoke(hub_group, ["publish-calendar", str(broken), "--data-dir",
                                        str(data_dir)])
    assert refused.exit_code != 0
    app = create_app(replace(HubSettings.load(data_dir), testing=True))
    hub: HubServices = app.extensions["sanji_hub"]
    assert hub.calendar.year_data(2027).version == data["version"]
    with app_session(app) as session:
        sent = [r for r in releases_to_send(session, datetime.now(UTC)) if r.kind == "calendar"]
    assert sent and calendar_from_release_content(sent[-1].content).year == 2027
