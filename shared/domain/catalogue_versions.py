"""Which catalogue release a case is decided under: the one it was accepted under.

A citizen's case is accepted (受理) against the item as the catalogue then published it: its
materials, its window, its promised days. A later release may change them, but only for
cases accepted after it; a case already open keeps its steps, deadline, materials and the
windows that may decide it. So every deciding site keeps each catalogue release it has
taken (:class:`CatalogueVersions`), and the registration event names the version the case
was accepted under (``catalogue_version``, carried since the first release).

- A registration without ``catalogue_version`` (none is written without it; only an event
  made by hand could lack it) is read as accepted under the **oldest** version held.
- A site missing the version (a freshly replaced PC that took only the newest release)
  decides by the newest it holds, and says so: :attr:`CaseCatalogue.note` is shown on the
  case page, logged as a warning, and recorded on the acceptance event.
- Pruning (:func:`versions_to_prune`): a site keeps at most :data:`MAX_HELD` versions and
  drops only the oldest ones no open case was accepted under; the newest is never dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.domain.catalogue import Catalogue

MAX_HELD = 12
"""Catalogue versions a site keeps before pruning the ones no open case uses (a city
publishes a few a year; a case stays open for weeks)."""


class CatalogueVersions(Protocol):
    """The catalogue releases a site holds, by version."""

    def version(self, number: int) -> Catalogue | None:
        """The release ``number``; None when this site does not hold it."""
        ...

    def oldest(self) -> Catalogue | None:
        """The oldest release held; None when none is."""
        ...


@dataclass(frozen=True, slots=True)
class CaseCatalogue:
    """The catalogue a case is decided by, and why, when it is not the one it names."""

    catalogue: Catalogue
    accepted_under: int | None
    """The version the registration names (None: it names none)."""
    note: str = ""
    """Set when the version named is not held here and ``catalogue`` stands in for it."""


def accepted_under(registration: Mapping[str, object]) -> int | None:
    """The catalogue version a registration payload names, or None."""
    value = registration.get("catalogue_version")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def catalogue_for_case(newest: Catalogue, versions: CatalogueVersions | None,
                       registration: Mapping[str, object]) -> CaseCatalogue:
    """The release a case registered with ``registration`` is decided by at this site:
    the one it names; the oldest held when it names none; the newest, with a note, when
    the one it names is not held (or when the site keeps no versions at all)."""
    named = accepted_under(registration)
    if versions is None:
        return CaseCatalogue(newest, named)
    if named is None:
        return CaseCatalogue(versions.oldest() or newest, None)
    if named == newest.version:
        return CaseCatalogue(newest, named)
    found = versions.version(named)
    if found is not None:
        return CaseCatalogue(found, named)
    return CaseCatalogue(newest, named, (
        f"catalogue v{named} the case was accepted under is not held at this site: "
        f"decided under v{newest.version}"))


def versions_to_prune(held: Sequence[int], in_use: Collection[int],
                      keep: int = MAX_HELD) -> list[int]:
    """The versions to drop so that at most ``keep`` remain: the oldest first, never one an
    open case uses, never the newest (so more than ``keep`` may remain)."""
    ordered = sorted(set(held))
    excess = len(ordered) - keep
    if excess <= 0:
        return []
    droppable = [v for v in ordered[:-1] if v not in in_use]
    return droppable[:excess]
