"""A hub on SQLite and on PostgreSQL, and a village node, built once for the package: each
test takes its own snapshot of the database before it attacks, so what an earlier test
legitimately stored (free text in a description) does not hide what a later one changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_schema
from tests.hostile.sites import Site, hub_site, node_site


@pytest.fixture(scope="package", params=[
    "node", "hub-sqlite", pytest.param("hub-postgresql", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    base: Path = tmp_path_factory.mktemp(request.param)
    if request.param == "node":
        yield from node_site(base / "node")
    elif request.param == "hub-sqlite":
        yield from hub_site(base / "hub")
    else:
        url = request.getfixturevalue("pg_module_url")
        yield from hub_site(base / "hub", url)


@pytest.fixture(scope="package")
def pg_module_url(pg_available: str) -> Iterator[str]:
    """A PostgreSQL schema of the package's own, dropped afterwards."""
    with fresh_schema(pg_available, "h") as url:
        yield url
