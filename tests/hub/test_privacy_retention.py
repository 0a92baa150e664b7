"""The retention policy: its defaults, its periods, and a file checked in full at load."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.privacy.retention_policy import POLICY_FILE, load_policy
from shared.domain.errors import Problems
from shared.domain.retention import RetentionPolicy

CLOSED = datetime(2026, 1, 10, tzinfo=UTC)


def test_without_a_file_the_defaults_apply(tmp_path: Path) -> None:
    policy = load_policy(tmp_path)
    assert policy == RetentionPolicy()
    assert policy.case_kept_until("MZ-0520", "approved", CLOSED) == CLOSED + timedelta(
        days=30 * 365)
    assert policy.case_kept_until("MZ-0520", "withdrawn", CLOSED) == CLOSED + timedelta(
        days=3 * 365)
    assert policy.case_kept_until("MZ-0520", None, None) is None


def test_a_file_sets_periods_per_item_and_for_scans(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text(json.dumps({
        "item_years": {"MZ-0520": 5}, "scan_years": 2, "archive_after_days": 30}))
    policy = load_policy(tmp_path)
    assert policy.case_kept_until("MZ-0520", "approved", CLOSED) == CLOSED + timedelta(
        days=5 * 365)
    assert policy.case_kept_until("OTHER", "rejected", CLOSED) == CLOSED + timedelta(
        days=10 * 365)
    assert policy.scans_kept_until("MZ-0520", "approved", CLOSED) == CLOSED + timedelta(
        days=2 * 365)
    assert policy.archive_due(CLOSED, CLOSED + timedelta(days=30))
    assert not policy.archive_due(CLOSED, CLOSED + timedelta(days=29))


def test_every_problem_of_a_file_is_named_by_its_field(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text(json.dumps({
        "case_years": {"approved": 0, "granted": 5},
        "audit_log_days": 30,
        "scan_years": "two",
        "keep_forever": True,
    }))
    with pytest.raises(Problems) as raised:
        load_policy(tmp_path)
    fields = raised.value.fields
    assert set(fields) == {"case_years.granted.key", "case_years.approved.value",
                           "audit_log_days", "scan_years", "keep_forever"}
    assert "180" in fields["audit_log_days"]  # the law's six months


def test_case_years_must_name_every_outcome(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text(json.dumps({"case_years": {"approved": 20}}))
    with pytest.raises(Problems) as raised:
        load_policy(tmp_path)
    assert "withdrawn" in raised.value.fields["case_years"]


def test_a_file_that_is_not_json_says_where(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text("{ nope")
    with pytest.raises(Problems) as raised:
        load_policy(tmp_path)
    assert "line 1" in raised.value.fields["retention"]
