"""Failed attempts are counted the same in memory and in ``acct_failures`` (SQLite and
PostgreSQL), and the login limits built on them block the guesser, not everyone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from hub.db_session import MIGRATIONS
from shared.storage.db import make_engine
from shared.storage.failure_counts import (
    FailedAttempt,
    FailureCounts,
    MemoryFailureCounts,
    SqlFailureCounts,
)
from shared.web.rate_limit import FailureLimiter, LoginLimiter, LoginLimits

KEEP = 3600.0
LIMITS = LoginLimits(per_pair=3, per_address=5, window_seconds=60, per_account=8,
                     account_window_seconds=600)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def counts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FailureCounts]:
    if request.param == "memory":
        yield MemoryFailureCounts(KEEP)
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/counts.sqlite"
    else:
        url = str(request.getfixturevalue("pg_schema_url"))
    engine = make_engine(url)
    MIGRATIONS.upgrade(engine)
    yield SqlFailureCounts(sessionmaker(engine), KEEP)
    engine.dispose()


def test_failures_are_counted_by_address_by_account_and_by_both(counts: FailureCounts) -> None:
    counts.record("login", 10, "10.0.0.1", "li")
    counts.record("login", 11, "10.0.0.2", "li")
    counts.record("login", 12, "10.0.0.1", "wang")
    counts.record("status", 13, "10.0.0.1")
    assert counts.recent("login", 0, 10, address="10.0.0.1") == [10, 12]
    assert counts.recent("login", 0, 10, username="li") == [10, 11]
    assert counts.recent("login", 0, 10, address="10.0.0.1", username="li") == [10]
    assert counts.recent("status", 0, 10, address="10.0.0.1") == [13]
    assert counts.recent("login", 10, 10, username="li") == [11]  # only after ``since``
    assert counts.recent("login", 0, 1, address="10.0.0.1") == [12]  # the newest ``limit``


def test_forgetting_an_account_keeps_the_other_accounts(counts: FailureCounts) -> None:
    counts.record("login", 10, "10.0.0.1", "li")
    counts.record("login", 11, "10.0.0.1", "wang")
    assert counts.forget("login", "li") == 1
    assert counts.recent("login", 0, 10, username="li") == []
    assert counts.recent("login", 0, 10, address="10.0.0.1", username="li") == []
    assert counts.recent("login", 0, 10, username="wang") == [11]


def test_the_table_keeps_no_failure_older_than_it_needs(db_engine: Engine) -> None:
    MIGRATIONS.upgrade(db_engine)
    factory = sessionmaker(db_engine)
    counts = SqlFailureCounts(factory, keep_seconds=100)
    for at in range(0, 1000, 10):
        counts.record("login", at, "10.0.0.1", "li")
    with factory() as session:
        held = session.scalar(select(func.count()).select_from(FailedAttempt))
    assert held is not None and held <= 11


def test_the_address_limiter_counts_in_a_sliding_window(counts: FailureCounts) -> None:
    limiter = FailureLimiter(3, 60, counts=counts)
    for second in (0, 10, 20):
        assert not limiter.blocked("a", second)
        limiter.record_failure("a", second)
    assert limiter.blocked("a", 30) and not limiter.blocked("b", 30)
    assert limiter.retry_after("a", 30) == 31
    assert not limiter.blocked("a", 61)


def test_one_address_guessing_one_account_blocks_only_that_pair(counts: FailureCounts) -> None:
    limiter = LoginLimiter(counts, LIMITS)
    for second in range(3):
        assert limiter.retry_after("li", "10.0.0.1", second) is None
        limiter.record_failure("li", "10.0.0.1", second)
    assert limiter.retry_after("li", "10.0.0.1", 5) == 56
    assert limiter.retry_after("li", "10.0.0.2", 5) is None  # li elsewhere: not locked out
    assert limiter.retry_after("wang", "10.0.0.1", 5) is None  # others from here: not yet
    assert limiter.retry_after("li", "10.0.0.1", 61) is None  # the window has passed


def test_one_address_spraying_many_accounts_is_blocked_for_every_account(
    counts: FailureCounts,
) -> None:
    limiter = LoginLimiter(counts, LIMITS)
    for n in range(5):
        assert limiter.retry_after(f"user{n}", "10.0.0.9", n) is None
        limiter.record_failure(f"user{n}", "10.0.0.9", n)
    assert limiter.retry_after("someone.new", "10.0.0.9", 6) is not None
    assert limiter.retry_after("someone.new", "10.0.0.1", 6) is None  # other addresses go on
    assert limiter.account_locked_for("user0", 6) is None


def test_many_addresses_spraying_one_account_lock_it_until_an_admin_lifts_it(
    counts: FailureCounts,
) -> None:
    limiter = LoginLimiter(counts, LIMITS)
    for n in range(8):
        address = f"10.1.0.{n}"
        assert limiter.retry_after("zhao.admin", address, n) is None
        limiter.record_failure("zhao.admin", address, n)
    assert limiter.account_locked_for("zhao.admin", 10) == 591
    assert limiter.retry_after("zhao.admin", "192.168.7.7", 10) == 591  # from anywhere
    assert limiter.retry_after("li", "192.168.7.7", 10) is None  # other accounts go on
    assert limiter.lift("zhao.admin") == 8
    assert limiter.retry_after("zhao.admin", "192.168.7.7", 10) is None
