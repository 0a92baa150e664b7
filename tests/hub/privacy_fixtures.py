"""A hub on PostgreSQL in a schema of its own, made by the real ``sanji hub init``, for the
personal-information tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.db_session import app_session
from shared.storage import sync_store
from sync_protocol.times import to_ms
from tests.hub.conftest import Hub, User, hub_maker


def pg_hub_maker(tmp_path: Path, url: str) -> Callable[[datetime, Sequence[User]], Hub]:
    """``make(now, users)`` as :func:`tests.hub.conftest.make_hub`, on ``url``."""
    return hub_maker(tmp_path, url)


def withdraw(hub: Hub, case_id: Any) -> None:
    """The applicant withdraws the case at the city's front desk: it is closed."""
    _record(hub, case_id, "window_operator:front-desk", "withdrawn",
            {"reason": "the applicant withdrew"})


def urge(hub: Hub, case_id: Any, reason: str) -> None:
    """A supervisor urges the case's window (催办) with ``reason``."""
    _record(hub, case_id, "supervisor:sup1", "urged", {"reason": reason})


def _record(hub: Hub, case_id: Any, actor: str, event_type: str,
            payload: dict[str, Any]) -> None:
    """An event authored by the hub now, applied as the hub applies its own."""
    site = hub.services.sync_site
    now = hub.clock()
    with app_session(hub.app) as session:
        row = sync_store.author_event(
            session, site.key, site.sealer, epoch=site.epoch, case_id=case_id,
            actor=actor, type=event_type, payload=payload, at_ms=to_ms(now), up=False,
            now_ms=to_ms(now))
        site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)], now)
        session.commit()
