"""Acceptance numbers, query codes, sealing and the look-up limiter, below the HTTP layer."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from node.case_log import next_value
from node.db_session import upgrade_database
from node.sealing import DataSealer, SealError
from shared.domain.application import (
    QUERY_CODE_ALPHABET,
    acceptance_number,
    new_query_code,
    normalise_query_code,
    query_code_hash,
    query_code_opens,
    query_verifier,
    registered_query_check,
    stored_query_check,
)
from shared.storage.db import make_engine
from shared.web.rate_limit import FailureLimiter


def test_the_date_is_the_shanghai_date_and_later_epochs_are_marked() -> None:
    late_evening_utc = datetime(2025, 3, 3, 16, 30, tzinfo=UTC)  # 00:30 on the 4th in Shanghai
    assert acceptance_number("431002001201", late_evening_utc, 1, 7) == (
        "431002001201-20250304-0007"
    )
    assert acceptance_number("431002001201", late_evening_utc, 2, 12345) == (
        "431002001201-20250304-E2-12345"
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    registrations=st.lists(
        st.tuples(st.integers(min_value=0, max_value=3), st.integers(min_value=1, max_value=2)),
        min_size=1,
        max_size=40,
    )
)
def test_numbers_never_repeat_across_days_and_epochs(
    tmp_path: Path, registrations: list[tuple[int, int]]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.sqlite'}")
    upgrade_database(engine)
    start = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    issued: list[str] = []
    with Session(engine) as session:
        for day, epoch in registrations:
            at = start + timedelta(days=day)
            scope = f"acceptance:431002001201:{at:%Y%m%d}:{epoch}"
            issued.append(acceptance_number("431002001201", at, epoch, next_value(session, scope)))
        session.commit()
    engine.dispose()
    assert len(set(issued)) == len(issued)
    for number in issued:
        assert re.fullmatch(r"431002001201-2025030[3-6]-(E2-)?\d{4}", number)


def test_query_codes_are_random_readable_and_compared_by_verifier() -> None:
    codes = {new_query_code() for _ in range(500)}
    assert len(codes) == 500
    assert all(re.fullmatch(f"[{QUERY_CODE_ALPHABET}]{{8}}", c) for c in codes)
    case_id = uuid.uuid4()
    assert normalise_query_code(" abcd-efgh ") == "ABCDEFGH"
    assert query_verifier(case_id, "abcd-efgh") == query_verifier(case_id, "ABCDEFGH")
    assert query_verifier(case_id, "ABCDEFGH") != query_verifier(uuid.uuid4(), "ABCDEFGH")
    assert query_verifier(case_id, "ABCDEFGH") != query_verifier(case_id, "ABCDEFGJ")
    assert 0 <= query_verifier(case_id, "ABCDEFGH") < 2**48  # 6 bytes on the wire
    stored = stored_query_check(case_id, "ABCD-EFGH")
    assert re.fullmatch(r"[0-9a-f]{12}", stored)
    assert query_code_opens(case_id, "abcd efgh", stored)
    assert not query_code_opens(case_id, "ABCDEFGJ", stored)
    assert not query_code_opens(uuid.uuid4(), "ABCDEFGH", stored)


def test_a_case_registered_with_the_older_sha256_still_opens_with_its_code() -> None:
    case_id = uuid.uuid4()
    legacy = query_code_hash(case_id, "ABCDEFGH")
    assert registered_query_check({"query_code_sha256": legacy}) == legacy
    assert query_code_opens(case_id, "abcd-efgh", legacy)
    assert not query_code_opens(case_id, "ABCDEFGJ", legacy)
    verifier = query_verifier(case_id, "ABCDEFGH")
    assert registered_query_check({"query_verifier": verifier}) == f"{verifier:012x}"
    for bad in ({}, {"query_verifier": -1}, {"query_verifier": 2**48}, {"query_verifier": True},
                {"query_verifier": "0a"}, {"query_code_sha256": "short"}):
        assert registered_query_check(bad) is None


def test_a_sealed_value_opens_only_with_its_key_and_context() -> None:
    sealer = DataSealer(b"k" * 32)
    sealed = sealer.seal({"name": "王𠮷祥"}, "applicant:1")
    assert "王".encode() not in sealed
    assert sealer.open(sealed, "applicant:1") == {"name": "王𠮷祥"}
    with pytest.raises(SealError):
        sealer.open(sealed, "applicant:2")
    with pytest.raises(SealError):
        DataSealer(b"x" * 32).open(sealed, "applicant:1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        sealer.open(tampered, "applicant:1")


def test_the_limiter_counts_failures_in_a_sliding_window() -> None:
    limiter = FailureLimiter(max_failures=3, window_seconds=60)
    for second in (0, 10, 20):
        assert not limiter.blocked("a", second)
        limiter.record_failure("a", second)
    assert limiter.blocked("a", 30)
    assert not limiter.blocked("b", 30)
    assert limiter.retry_after("a", 30) == 31
    assert not limiter.blocked("a", 61)  # the failure at 0 has left the window


def test_the_limiter_forgets_the_stalest_address_beyond_its_bound() -> None:
    limiter = FailureLimiter(max_failures=1, window_seconds=60, max_addresses=2)
    for address in ("a", "b", "c"):
        limiter.record_failure(address, 0)
    assert not limiter.blocked("a", 1)
    assert limiter.blocked("b", 1) and limiter.blocked("c", 1)
