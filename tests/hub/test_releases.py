"""Catalogue and calendar releases published at the hub, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hub.releases import (
    HubRelease,
    import_catalogue,
    publish_calendar,
    published_years,
    releases_to_send,
)
from shared.domain.errors import Problems, StateConflict
from shared.domain.release_content import catalogue_from_release
from shared.domain.working_days import YearCalendar
from sync_protocol import KeyRing, ReleaseLedger, generate_key

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
HUB_KEY = generate_key("431000")


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    HubRelease.__table__.create(db_engine)  # type: ignore[attr-defined]
    with Session(db_engine) as session:
        yield session


def catalogue_file(tmp_path: Path, version: int, *, break_it: bool = False) -> Path:
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 1\n", f"version: {version}\n", 1)
    if break_it:
        text = text.replace("promised_days: 20", "promised_days: 999", 1)
        text = text.replace("department: MZ", "department: NOPE", 1)
    path = tmp_path / f"catalogue-v{version}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_publishes_a_signed_catalogue_every_site_can_accept(
    session: Session, tmp_path: Path
) -> None:
    release = import_catalogue(
        session, HUB_KEY, catalogue_file(tmp_path, 2), effective_from=None, now=NOW, by="admin"
    )
    session.commit()
    assert release.version == 2
    assert catalogue_from_release(release.content).version == 2
    ring = KeyRing("431000", HUB_KEY.public_raw)
    ledger = ReleaseLedger().accept(releases_to_send(session, NOW)[0], ring, NOW)
    assert ledger.in_force("catalogue", NOW) is not None


def test_a_bad_catalogue_lists_every_problem_and_publishes_nothing(
    session: Session, tmp_path: Path
) -> None:
    with pytest.raises(Problems) as caught:
        import_catalogue(
            session,
            HUB_KEY,
            catalogue_file(tmp_path, 2, break_it=True),
            effective_from=None,
            now=NOW,
            by="admin",
        )
    assert len(caught.value.fields) >= 2
    assert session.scalar(select(func.count()).select_from(HubRelease)) == 0


def test_versions_only_grow(session: Session, tmp_path: Path) -> None:
    import_catalogue(
        session, HUB_KEY, catalogue_file(tmp_path, 3), effective_from=None, now=NOW, by="admin"
    )
    with pytest.raises(StateConflict):
        import_catalogue(
            session, HUB_KEY, catalogue_file(tmp_path, 3), effective_from=None, now=NOW, by="admin"
        )


def test_a_future_catalogue_travels_beside_the_one_in_force(
    session: Session, tmp_path: Path
) -> None:
    import_catalogue(
        session, HUB_KEY, catalogue_file(tmp_path, 1), effective_from=None, now=NOW, by="admin"
    )
    later = NOW + timedelta(days=30)
    import_catalogue(
        session, HUB_KEY, catalogue_file(tmp_path, 2), effective_from=later, now=NOW, by="admin"
    )
    session.commit()
    assert [r.version for r in releases_to_send(session, NOW)] == [1, 2]
    assert [r.version for r in releases_to_send(session, later)] == [2]


def test_the_calendar_of_a_coming_year_is_published(session: Session) -> None:
    year = YearCalendar(
        year=2027,
        holidays={date(2027, 1, 1): "元旦"},
        workdays={},
        source="国务院办公厅通知",
        version=1,
    )
    release = publish_calendar(session, HUB_KEY, year, now=NOW, by="admin")
    session.commit()
    assert release.kind == "calendar"
    assert published_years(session) == [year]
