"""The township's view of a small tree, for the tests of what a site asks its parent: the
certificates of hub → (township, other township) and township → village, with their keys.
Fixtures for ``tests/shared/exchange`` and ``tests/shared/web`` (their conftests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.storage import sync_store as store
from shared.storage.db import Base
from sync_protocol import SiteKey, generate_key, issue_certificate
from tests.shared.exchange.test_tree import HUB, NOW, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE


@pytest.fixture
def keys() -> dict[str, SiteKey]:
    return {code: generate_key(code) for code in (HUB, TOWNSHIP, OTHER_TOWNSHIP, VILLAGE)}


@pytest.fixture
def session(db_engine: Engine, keys: dict[str, SiteKey]) -> Iterator[Session]:
    """The township's database: the certificates of hub → (township, other township) and
    township → village."""
    Base.metadata.create_all(db_engine,
                             tables=[cast(Table, t.__table__) for t in store.SYNC_TABLES])
    with Session(db_engine) as s:
        store.add_credentials(s, [
            issue_certificate(keys[HUB], site=code, parent=parent, tier=tier,
                              public_raw=keys[code].public_raw, now=NOW)
            for code, parent, tier in ((TOWNSHIP, HUB, "township"),
                                       (OTHER_TOWNSHIP, HUB, "township"),
                                       (VILLAGE, TOWNSHIP, "village"))], forward=False)
        s.commit()
        yield s
