"""Erasure at the end of retention, on PostgreSQL: the hub records an ``erased`` event, and
afterwards neither its data directory nor its database (opened with its data key) holds the
applicant's name or ID number, while the acceptance number, item, dates and outcome stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from hub.background import run_erasure
from hub.cli import hub_group
from hub.db_session import app_session
from hub.models import HubCase
from hub.privacy.archive import archive_case, archive_path
from hub.privacy.retention_policy import POLICY_FILE
from hub.privacy.tables import HubIdIndex
from shared.deciding import case_work
from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.case_state import fold
from shared.domain.retention import ERASED_REASON
from shared.storage import case_erasure, sync_store
from sync_protocol.times import to_ms
from tests.hub.conftest import ID_NUMBER, ITEM, WINDOW, Hub, register_at_hub
from tests.hub.privacy_fixtures import pg_hub_maker, urge, withdraw

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NAME = "李四"
SCAN = b"%PDF-1.4 " + NAME.encode() + b" " + ID_NUMBER.encode()


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return pg_hub_maker(tmp_path, pg_schema_url)(NOW, [("op1", "window_operator", WINDOW)])


def _withdrawn_case_with_a_scan(hub: Hub) -> tuple[Any, str, str]:
    sha256 = hub.services.blobs.put(SCAN)
    material = {"code": "APPLICATION", "sha256": sha256, "size": len(SCAN),
                "media_type": "application/pdf"}
    case_id, acceptance_no = register_at_hub(hub, materials=[material])
    urge(hub, case_id, f"{NAME}多次来电催问进度")  # a supervisor's reason naming the applicant
    withdraw(hub, case_id)
    return case_id, acceptance_no, sha256


def _everything_in_clear(hub: Hub) -> bytes:
    """Every file of the data directory, every row of every table, and every sealed payload
    opened with the hub's key."""
    services = hub.services
    parts = [p.read_bytes() for p in Path(services.settings.data_dir).rglob("*") if p.is_file()]
    with app_session(hub.app) as session:
        for table in inspect(session.connection()).get_table_names():
            parts += [row.encode() for row in session.execute(text(
                f'SELECT row_to_json(t)::text FROM "{table}" t')).scalars()]
        for row in session.scalars(select(sync_store.SyncEvent)):
            payload = sync_store.open_payload(row, services.payload_sealer)
            parts.append(json.dumps(payload, ensure_ascii=False).encode())
    return b"\n".join(parts)


def test_expiry_records_the_erasure_and_leaves_no_name_or_id_number(hub: Hub) -> None:
    case_id, acceptance_no, sha256 = _withdrawn_case_with_a_scan(hub)
    services = hub.services
    with app_session(hub.app) as session:
        archive_case(session, services.settings.data_dir, services.key, services.data_keys,
                     services.payload_sealer, case_id, NOW)
        session.commit()
    assert ID_NUMBER.encode() in _everything_in_clear(hub)  # the check sees it while held
    assert services.blobs.has(sha256)

    hub.clock.now = NOW + timedelta(days=3 * 365 - 1)  # withdrawn: kept 3 years
    assert run_erasure(hub.app) == 0
    hub.clock.now = NOW + timedelta(days=3 * 365 + 1)
    assert run_erasure(hub.app) == 1

    everything = _everything_in_clear(hub)
    for secret in (ID_NUMBER, ID_NUMBER[:17], NAME, "13800138000"):
        assert secret.encode() not in everything
    assert not services.blobs.has(sha256)
    assert not archive_path(services.settings.data_dir, case_id).exists()
    with app_session(hub.app) as session:
        events = case_work.case_events(session, services.sync_site, case_id)
        assert events[-1].type.value == "erased"
        assert "withdrawn: 3 years" in events[-1].payload["policy"]
        state = fold(events)  # the chain and the law's record stay whole
        assert (state.state.value, state.outcome and state.outcome.value) == (
            "withdrawn", "withdrawn")
        assert events[0].payload["acceptance_no"] == acceptance_no
        assert events[0].payload["materials"] == [{"code": "APPLICATION"}]
        assert session.get(HubCase, case_id).acceptance_no == acceptance_no  # type: ignore[union-attr]
        assert session.scalars(select(HubIdIndex)).all() == []
        urged = [e for e in events if e.type.value == "urged"]  # counted still, reason gone
        assert [e.payload["reason"] for e in urged] == [ERASED_REASON]
    assert run_erasure(hub.app) == 0  # once only


def test_an_event_of_an_erased_case_that_comes_up_later_is_erased_on_arrival(
        hub: Hub) -> None:
    case_id, _, _ = _withdrawn_case_with_a_scan(hub)
    hub.clock.now = NOW + timedelta(days=4 * 365)
    assert run_erasure(hub.app) == 1
    site = hub.services.sync_site
    with app_session(hub.app) as session:
        row = sync_store.author_event(
            session, site.key, site.sealer, epoch=site.epoch, case_id=case_id,
            actor="window_operator:front-desk", type="rated",
            payload={"rating": "satisfied", "comment": f"{NAME} {ID_NUMBER}"},
            at_ms=to_ms(hub.clock()), up=False, now_ms=to_ms(hub.clock()))
        site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)],
                                  hub.clock())
        session.commit()
    assert ID_NUMBER.encode() not in _everything_in_clear(hub)


def test_its_own_erasure_handed_back_to_a_restored_hub_erases_the_whole_case(
        hub: Hub) -> None:
    """A hub restored from a backup older than an erasure holds the case whole; its own
    ``erased`` event comes back from below (hand-back) and erases every event of the case,
    and its scan (file deleted, marked erased: never wanted from below again)."""
    case_id, _, sha256 = _withdrawn_case_with_a_scan(hub)
    site, now = hub.services.sync_site, NOW + timedelta(days=4 * 365)
    draft = EventDraft(EventType.ERASED, EventActor(case_work.SYSTEM_USER, Role.SYSTEM), now,
                       {"reason": ERASED_REASON, "policy": "MZ-0520 withdrawn: 3 years"})
    with app_session(hub.app) as session:  # the erasure as held below, not carried out here
        handed = case_work.append_drafts(session, site, case_id, [draft], now)
        session.commit()
    assert ID_NUMBER.encode() in _everything_in_clear(hub)
    assert hub.services.blobs.path(sha256).is_file()
    with app_session(hub.app) as session:
        site.hooks.events_arrived(session, handed, now)
        session.commit()
    assert ID_NUMBER.encode() not in _everything_in_clear(hub)
    assert not hub.services.blobs.path(sha256).exists()
    with app_session(hub.app) as session:
        assert case_erasure.erased_scans(session, [sha256]) == {sha256}


def test_the_command_erases_and_says_which(hub: Hub) -> None:
    hub.clock.now = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)  # the command reads the real clock
    case_id, _, _ = _withdrawn_case_with_a_scan(hub)
    hub.clock.now = datetime.now(UTC)
    register_at_hub(hub, 2)  # open: kept
    data_dir = str(hub.services.settings.data_dir)
    result = CliRunner().invoke(hub_group, ["erase-expired", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert f"{case_id}: erased (MZ-0520 withdrawn: 3 years)" in result.output
    assert "1 cases erased" in result.output


def test_an_item_with_a_period_of_its_own_is_erased_by_it(hub: Hub) -> None:
    settings = hub.services.settings
    (Path(settings.data_dir) / POLICY_FILE).write_text(json.dumps({"item_years": {ITEM: 1}}))
    case_id, _, _ = _withdrawn_case_with_a_scan(hub)
    hub.clock.now = NOW + timedelta(days=364)
    assert run_erasure(hub.app) == 0
    hub.clock.now = NOW + timedelta(days=366)  # not the three years of a withdrawal
    assert run_erasure(hub.app) == 1
    with app_session(hub.app) as session:
        events = case_work.case_events(session, hub.services.sync_site, case_id)
    assert events[-1].payload["policy"] == f"{ITEM} withdrawn: 1 years"
