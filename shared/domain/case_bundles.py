"""The parent of a one-form application (一件事) and how it joins its parts.

Registering a composite writes one case per part in one transaction; each part's
``registered`` payload carries the same ``bundle``: the parent's id and acceptance number,
the composite's code and the parts' items. Nothing else records the parent, so it can never
disagree with its parts: every site that holds the parts derives the parent from them. The
parts decide in parallel at their own windows; the parent is complete when every part is
closed (its result issued or the application withdrawn), whatever each part's outcome, and
says how many parts were approved and how many refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BUNDLE_KEYS = frozenset({"id", "composite", "acceptance_no", "parts"})


@dataclass(frozen=True, slots=True)
class BundleRef:
    """What a part's registration says of its parent."""

    id: uuid.UUID
    composite: str
    acceptance_no: str
    parts: tuple[str, ...]

    def as_payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "composite": self.composite,
                "acceptance_no": self.acceptance_no, "parts": list(self.parts)}


def bundle_of(payload: Mapping[str, Any]) -> BundleRef | None:
    """The parent a ``registered`` payload names, or None (a case of its own, or a bundle
    entry of the wrong shape, which a signed event from a site of the tree never has)."""
    raw = payload.get("bundle")
    if not isinstance(raw, Mapping) or set(raw) != BUNDLE_KEYS:
        return None
    parts = raw.get("parts")
    if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
        return None
    if not isinstance(raw.get("composite"), str) or not isinstance(raw.get("acceptance_no"), str):
        return None
    try:
        bundle_id = uuid.UUID(str(raw["id"]))
    except ValueError:
        return None
    return BundleRef(bundle_id, str(raw["composite"]), str(raw["acceptance_no"]), tuple(parts))


@dataclass(frozen=True, slots=True)
class PartStatus:
    """One part as the site holding it sees it."""

    case_id: uuid.UUID
    acceptance_no: str
    item_code: str
    state: str
    outcome: str | None
    closed: bool


@dataclass(frozen=True, slots=True)
class BundleStatus:
    """The parent: complete when every part expected is held and closed."""

    bundle_id: uuid.UUID
    expected: int
    parts: tuple[PartStatus, ...]

    @property
    def closed_parts(self) -> int:
        return sum(1 for part in self.parts if part.closed)

    @property
    def complete(self) -> bool:
        return len(self.parts) >= self.expected and self.closed_parts == len(self.parts)

    @property
    def approved(self) -> int:
        return sum(1 for part in self.parts if part.outcome == "approved")

    @property
    def refused(self) -> int:
        return sum(1 for part in self.parts if part.outcome == "rejected")

    @property
    def state(self) -> str:
        """``complete`` when all parts are closed, else ``in_progress``."""
        return "complete" if self.complete else "in_progress"

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle_id": str(self.bundle_id), "state": self.state, "parts_expected": self.expected,
            "parts_closed": self.closed_parts, "approved": self.approved, "refused": self.refused,
            "parts": [{"case_id": str(p.case_id), "acceptance_no": p.acceptance_no,
                       "item_code": p.item_code, "state": p.state, "outcome": p.outcome,
                       "closed": p.closed}
                      for p in self.parts],
        }


def bundle_status(bundle_id: uuid.UUID, expected: int,
                  parts: Sequence[PartStatus]) -> BundleStatus:
    """The parent of ``parts``, in the order of their acceptance numbers."""
    ordered = tuple(sorted(parts, key=lambda part: part.acceptance_no))
    return BundleStatus(bundle_id, expected, ordered)
