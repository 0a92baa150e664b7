"""The supervisor's live counts fold the grouped rows into tiers, departments, windows and
items through the catalogue; an item the catalogue no longer lists is counted as unknown,
never dropped."""

from __future__ import annotations

from shared.deciding.dashboard_counts import UNKNOWN, fold_counts
from shared.domain.catalogue_loader import load_sample_catalogue

HUB, TOWNSHIP = "431000", "431000001"


def test_rows_fold_into_every_view_and_the_total() -> None:
    rows = [
        (HUB, "W-MZ-01", "MZ-0520", 3, 1, 1, 1, 1),  # city, 民政
        (HUB, "W-NY-01", "NY-3301", 2, 0, None, 2, 2),  # city, 农业
        (TOWNSHIP, "W-MZ-11", "MZ-0305", 4, 2, 1, 0, 0),  # township, 民政
        (TOWNSHIP, "W-MZ-11", "XX-9999", 1, 0, 0, 1, 0),  # gone from the catalogue
    ]
    counts = fold_counts(rows, load_sample_catalogue())
    by = {c.key: (c.open, c.paused, c.near, c.overdue, c.carded) for c in counts.tiers}
    assert by == {"city": (5, 1, 1, 3, 3), "township": (4, 2, 1, 0, 0),
                  UNKNOWN: (1, 0, 0, 1, 0)}
    assert {c.key: c.open for c in counts.departments} == {"MZ": 7, "NY": 2, UNKNOWN: 1}
    assert [c.key for c in counts.windows] == [
        f"{HUB}/W-MZ-01", f"{HUB}/W-NY-01", f"{TOWNSHIP}/W-MZ-11"]
    assert [c.open for c in counts.windows] == [3, 2, 5]
    assert {c.key: c.overdue for c in counts.items} == {
        "MZ-0520": 1, "NY-3301": 2, "MZ-0305": 0, "XX-9999": 1}
    total = counts.total
    assert (total.open, total.paused, total.near, total.overdue, total.carded) == (
        10, 3, 2, 4, 3)
