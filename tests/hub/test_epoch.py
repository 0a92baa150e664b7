"""The hub's epoch after a restore from a backup (``sanji hub init --new-epoch``): the hub's
own chain and its downward streams go on above every epoch the store has written in, so the
restored copy never authors a second event under a key its children already hold."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.epoch import hub_epoch
from hub.services import HubServices
from hub.settings import HubSettings
from shared.storage import sync_store
from tests.hub.conftest import Hub, User, register_at_hub

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _services(data_dir: Path) -> HubServices:
    app = create_app(replace(HubSettings.load(data_dir), testing=True))
    found: HubServices = app.extensions["sanji_hub"]
    return found


def test_new_epoch_moves_the_hubs_chain_above_what_it_wrote(
    make_hub: Callable[[datetime, Sequence[User]], Hub], tmp_path: Path,
) -> None:
    hub = make_hub(NOW, [])
    register_at_hub(hub)
    data_dir = tmp_path / "hub"
    with app_session(hub.app) as session:
        assert hub_epoch(session) == 1
        assert set(session.scalars(select(sync_store.SyncEvent.epoch))) == {1}

    for expected in (2, 3):
        result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir),
                                                "--new-epoch"])
        assert result.exit_code == 0, result.output
        assert f"now writes in epoch {expected}" in result.output
        assert _services(data_dir).sync_site.epoch == expected

    plain = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir)])
    assert plain.exit_code == 0, plain.output
    assert _services(data_dir).sync_site.epoch == 3  # an upgrade keeps the epoch
