"""bench/supervision_scale.py at a small size: the rows it makes are what the scan and the
report read (the claim finds exactly the cases made due, through the partial index; the
month has figures), so the full-size run measures the product's own path."""

from __future__ import annotations

import re

import pytest

from bench import supervision_scale


@pytest.mark.postgres
def test_the_small_run_claims_the_due_cases_through_the_index(
        pg_available: str, capsys: pytest.CaptureFixture[str]) -> None:
    supervision_scale.main(["--cases", "4000", "--signals", "500", "--repeat", "1",
                            "--open-fraction", "0.5", "--due-fraction", "0.1",
                            "--database-url", pg_available])
    out = capsys.readouterr().out
    due = int(re.search(r"cases due a signal now: ([\d,]+)", out)[1].replace(",", ""))  # type: ignore[index]
    assert 100 < due < 300  # about 4000 * 0.5 * 0.95 * 0.1
    assert f"rows={min(due, 200)} loops=1" in out  # the claim returns one batch of them
    assert "Index Scan using ix_hub_cases_next_signal" in out
    totals = re.search(r"total: received ([\d,]+), completed ([\d,]+)", out)
    assert totals is not None and int(totals[2].replace(",", "")) > 0
