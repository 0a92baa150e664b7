"""Which catalogue release a case is decided by, and which kept releases may be pruned."""

from __future__ import annotations

import dataclasses

from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.catalogue_versions import catalogue_for_case, versions_to_prune

SAMPLE = load_sample_catalogue()


def _v(number: int) -> Catalogue:
    return dataclasses.replace(SAMPLE, version=number)


class Held:
    """Releases a site holds, by version."""

    def __init__(self, *numbers: int) -> None:
        self.by_version = {n: _v(n) for n in numbers}

    def version(self, number: int) -> Catalogue | None:
        return self.by_version.get(number)

    def oldest(self) -> Catalogue | None:
        return self.by_version[min(self.by_version)] if self.by_version else None


def test_a_case_is_decided_by_the_release_it_names() -> None:
    chosen = catalogue_for_case(_v(5), Held(3, 4, 5), {"catalogue_version": 4})
    assert (chosen.catalogue.version, chosen.accepted_under, chosen.note) == (4, 4, "")


def test_without_a_version_named_the_oldest_held_is_used() -> None:
    chosen = catalogue_for_case(_v(5), Held(3, 4, 5), {"item_code": "MZ-0520"})
    assert (chosen.catalogue.version, chosen.accepted_under) == (3, None)
    not_an_int = catalogue_for_case(_v(5), Held(3, 5), {"catalogue_version": True})
    assert not_an_int.catalogue.version == 3


def test_a_missing_release_falls_back_to_the_newest_and_says_so() -> None:
    chosen = catalogue_for_case(_v(5), Held(5), {"catalogue_version": 2})
    assert chosen.catalogue.version == 5 and chosen.accepted_under == 2
    assert chosen.note == ("catalogue v2 the case was accepted under is not held at this "
                           "site: decided under v5")
    assert catalogue_for_case(_v(5), None, {"catalogue_version": 2}).note == ""


def test_pruning_drops_the_oldest_unused_beyond_the_bound_never_the_newest() -> None:
    assert versions_to_prune([1, 2, 3], in_use=set(), keep=3) == []
    assert versions_to_prune([1, 2, 3, 4, 5], in_use={1}, keep=3) == [2, 3]
    assert versions_to_prune([1, 2, 3, 4], in_use={1, 2, 3}, keep=2) == []  # all in use
    assert versions_to_prune([4, 9], in_use=set(), keep=0) == [4]  # the newest stays
