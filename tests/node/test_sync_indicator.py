"""The sync badge in every node page's header, the ``/sync`` page and its "sync now" button.

The node is the real app on a data directory made by ``sanji node init``. Enrolment is what
gives a node its parent; these tests give the app's sync site a parent directly (as the
grant would), and write the exchange's status record with the same function the exchange
uses, so each colour is reached through the state the real exchange leaves behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import event

from node.db_session import app_session
from node.sync_indicator import clock_text
from shared.exchange.status import record_status
from shared.storage.db import make_engine
from shared.storage.sync_store import ack_up, pending_up
from shared.web.request_db import engine_of
from tests.node.conftest import ID_LI, ID_ZHAO, Clock, case_body, node_services, person, post_case
from tests.shared.web.form_client import FormClient

PARENT = "431002001"
TIMEOUT_ERROR = (
    "HTTPConnectionPool(host='10.8.0.1', port=8100): Max retries exceeded with url: "
    "/api/v1/sync/exchange (Caused by ConnectTimeoutError(timed out))"
)
IDS = ("431002198001010017", ID_LI, ID_ZHAO)


def _enrol(app: Flask) -> None:
    """Give the node a parent, as the hub's grant does at enrolment. Sign-in, which an
    enrolled node then asks for, is left off here: these tests are about the badge (the
    sign-in has its own test in tests/integration/test_three_tiers.py)."""
    node = node_services(app)
    node.settings = replace(node.settings, require_sign_in=False)
    site = node.sync_site
    site.parent = PARENT
    site.parent_url = "http://10.8.0.1:8100"


def _badge(client: FlaskClient, path: str = "/cases") -> re.Match[str]:
    response = client.get(path)
    assert response.status_code == 200
    found = re.search(r'<a id="sync-indicator" class="sync sync-([a-z]+)" href="/sync"'
                      r'(?: title="([^"]*)")?>([^<]*)</a>', response.get_data(as_text=True))
    assert found, "the header has no sync badge"
    return found


def _register(client: FlaskClient, count: int, first: int = 0) -> None:
    """``count`` new cases at the village desk (one event each waits to go up)."""
    for n in range(first, first + count):
        body = case_body(applicant=person(id_number=IDS[n % len(IDS)]))
        response = post_case(client, body, key=f"k{n}")
        assert response.status_code == 201, response.get_data(as_text=True)


def _record(app: Flask, at: datetime, *, ok: bool, error: str | None = None,
            reachable: bool = True, bytes_up: int = 0, bytes_down: int = 0) -> None:
    with app_session(app) as session:
        record_status(session, at, ok=ok, error=error, reachable=reachable,
                       bytes_up=bytes_up, bytes_down=bytes_down)
        session.commit()


def _ack_everything(app: Flask, clock: Clock) -> None:
    """What a successful exchange does with the parent's watermarks."""
    site = node_services(app).sync_site
    with app_session(app) as session:
        events = pending_up(session, site.sealer, limit=100)
        ack_up(session, {(site.code, site.epoch): max(e.seq for e in events)},
               int(clock().timestamp() * 1000))
        session.commit()


def test_a_node_without_a_parent_shows_grey_not_enrolled(client: FlaskClient) -> None:
    _register(client, 1)  # a case waits, but there is nobody to send it to
    colour, title, text = _badge(client).groups()
    assert (colour, text) == ("grey", "未注册")
    assert "暂存本机" in title
    assert _badge(client, "/cases?lang=en").group(3) == "not enrolled"
    for path in ("/intake", "/transfer", "/sync"):  # every station page has it
        assert _badge(client, path).group(1) == "grey"


def test_waiting_events_show_amber_with_their_count(app: Flask, client: FlaskClient,
                                                   clock: Clock) -> None:
    _enrol(app)
    _record(app, clock() - timedelta(minutes=30), ok=True)
    _register(client, 2)
    colour, title, text = _badge(client).groups()
    assert (colour, text) == ("amber", "待上传 2 件")
    assert title == "上次成功同步: 10:00"
    assert post_case(client, case_body(), key="k0").status_code == 200  # a second click
    assert _badge(client).group(3) == "待上传 2 件"
    assert _badge(client, "/cases?lang=en").group(3) == "2 waiting"


def test_a_failed_exchange_shows_red_since_the_last_success_with_the_error(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    _enrol(app)
    _record(app, clock() - timedelta(hours=1, minutes=15), ok=True)  # 09:15 in Shanghai
    _register(client, 1)
    _record(app, clock(), ok=False, error=TIMEOUT_ERROR, reachable=False)
    colour, title, text = _badge(client).groups()
    assert colour == "red"
    assert text == "离线 自 09:15 起 — 待上传 1 件"
    assert title == str(escape(TIMEOUT_ERROR[:80]))
    assert "ConnectTimeoutError" not in title  # the tooltip keeps it short ...
    assert "ConnectTimeoutError" in client.get("/sync").get_data(as_text=True)  # ... not here
    assert _badge(client, "/cases?lang=en").group(3) == "offline since 09:15 — 1 waiting"

    # the parent answered but refused: red too, without calling the link dead
    _record(app, clock(), ok=False, error="refused: certificate_revoked: revoked",
            reachable=True)
    colour, title, text = _badge(client, "/cases?lang=zh").groups()  # the cookie said en
    assert (colour, title) == ("red", "refused: certificate_revoked: revoked")
    assert text.startswith("同步被拒 自 09:15 起")


def test_an_acknowledged_queue_shows_green_with_the_time_of_the_last_success(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    _enrol(app)
    _register(client, 2)
    _record(app, clock() - timedelta(minutes=5), ok=False, error="timed out", reachable=False)
    assert _badge(client).group(1) == "red"
    _ack_everything(app, clock)
    _record(app, clock(), ok=True, bytes_up=900, bytes_down=300)
    colour, title, text = _badge(client).groups()
    assert (colour, text) == ("green", "已同步 10:30")
    assert title == "上次成功同步: 10:30"
    clock.advance(days=1)
    assert _badge(client).group(3) == "已同步 03-03 10:30"  # not today: the date too


def test_the_badge_reads_two_rows_however_much_waits(app: Flask, client: FlaskClient) -> None:
    _enrol(app)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine_of(app), "before_cursor_execute", count)
    seen: list[int] = []
    for first, waiting in ((0, 1), (1, 4)):
        _register(client, waiting, first)
        statements.clear()
        assert _badge(client, "/intake").group(1) == "amber"
        seen.append(len(statements))
    event.remove(engine_of(app), "before_cursor_execute", count)
    assert seen == [2, 2]  # the status record and one count, whatever the queue holds


def test_an_unreadable_database_shows_grey_unknown_and_the_page_still_opens(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    _enrol(app)
    missing = make_engine(f"sqlite:///{tmp_path / 'gone' / 'node.sqlite'}")
    app.extensions["sanji_db"].configure(bind=missing)
    colour, title, text = _badge(client, "/intake").groups()
    assert (colour, text) == ("grey", "状态未知")
    assert "数据库" in title
    page = client.get("/sync")
    assert page.status_code == 200 and "状态未知" in page.get_data(as_text=True)


def test_the_sync_page_shows_the_status_and_the_byte_counters(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    _enrol(app)
    _record(app, clock() - timedelta(minutes=10), ok=True, bytes_up=1_234_567, bytes_down=4_321)
    _record(app, clock(), ok=True, bytes_up=1_000, bytes_down=79)
    _register(client, 1)
    page = client.get("/sync").get_data(as_text=True)
    assert 'id="parent">431002001 <small>' in page
    assert 'id="reachable">是<' in page
    assert 'id="pending-up">1<' in page and 'id="pending-down">0<' in page
    assert 'id="bytes-up">1,235,567 字节<' in page
    assert 'id="bytes-down">4,400 字节<' in page
    assert 'id="last-success">2025-03-03 10:30<' in page
    assert 'id="last-error">—<' in page
    assert 'id="sync-now"' in page
    english = client.get("/sync?lang=en").get_data(as_text=True)
    assert "Bytes sent" in english and "1,235,567 bytes" in english


@dataclass
class FakeJob:
    """The scheduler's side of a nudge, counted."""

    nudges: int = 0
    next_run: datetime = field(default_factory=lambda: datetime(2025, 3, 3, 2, 31, tzinfo=UTC))

    def nudge(self) -> None:
        self.nudges += 1


def test_sync_now_needs_the_form_token_and_brings_the_exchange_forward(
    app: Flask, client: FormClient
) -> None:
    _enrol(app)
    job = FakeJob()
    node_services(app).sync_job = job
    assert client.post("/sync/now", token=False).status_code == 400
    page = client.get("/sync").get_data(as_text=True)  # the session now holds a token
    assert 'id="next-run">2025-03-03 10:31<' in page
    assert client.post("/sync/now", data={"csrf_token": "guessed"}).status_code == 400
    assert job.nudges == 0
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = client.post("/sync/now", data={"csrf_token": token.group(1)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/sync?nudged=1"
    assert job.nudges == 1
    assert "已请求尽快同步" in client.get("/sync?nudged=1").get_data(as_text=True)


def test_times_carry_the_date_only_when_it_is_not_today() -> None:
    now = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert clock_text(datetime(2025, 3, 3, 14, 5, tzinfo=UTC), now) == "22:05"
    assert clock_text(datetime(2025, 3, 3, 16, 5, tzinfo=UTC), now) == "03-04 00:05"
    assert clock_text(datetime(2024, 12, 31, 1, 0, tzinfo=UTC), now) == "2024-12-31 09:00"
