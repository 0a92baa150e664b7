"""Which site decides a case whose item follows the applicant's area (全城通办), as one site
of the tree sees it.

The catalogue's rule names an area (:mod:`shared.domain.competence`); the sites that could
decide for it are the item's tier's office of that area, then each tier up. A site knows the
sites below it (the certificates it holds), so:

- a site that holds the competent office below it (or is it) knows the owner;
- of those, the **lowest common ancestor** of the registering station and the owner is the
  one site where the case changes branch: it records the ``referred`` event (once), and the
  down streams carry the case's events from there toward the owner (``shared.exchange.tree``);
- a site that knows no office for the area leaves the case to the sites above it;
- the hub, which knows the whole tree, falls back to the registering site's rule when no
  office of the city serves the area (an applicant from another city).

Once the log holds a ``referred`` event, every site takes its ``to`` as the owner. When
the applicant chose a station of the competent area to collect the result at
(``handover_station`` in the registration), the referral names it (``handover``) if it is
a station below the owner, and the case's events go there too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.case_events import CaseEvent, EventType
from shared.domain.catalogue import ServiceItem
from shared.domain.competence import (
    HANDOVER_STATION,
    TIER_DIGITS,
    candidate_sites,
    competent_area,
)
from shared.exchange.tree import child_toward


@dataclass(frozen=True, slots=True)
class Placement:
    """The owner as this site sees it (``""``: not known here, an ancestor will place it),
    and the ``referred`` payload this site records, if it is the one to record it."""

    owner: str
    referral: dict[str, Any] | None = None


def referred_owner(events: Sequence[CaseEvent]) -> str | None:
    """The office the case was referred to, if it was."""
    referred = [e for e in events if e.type is EventType.REFERRED]
    return str(referred[-1].payload["to"]) if referred else None


def place(site_code: str, is_root: bool, item: ServiceItem, events: Sequence[CaseEvent],
          parents: Mapping[str, str | None]) -> Placement | None:
    """Who decides the case of ``events`` (its registration first), as ``site_code`` sees
    it; None when the registering site's rule applies."""
    referred = referred_owner(events)
    if referred is not None:
        return Placement(referred)
    if not events or events[0].type is not EventType.REGISTERED:
        return None
    area = competent_area(item, events[0].payload)
    candidates = candidate_sites(area, str(item.tier)) if area is not None else []
    if area is None or not candidates:
        return None  # no area, or one too coarse to name an office: where registered
    owner = next((code for code in candidates
                  if code == site_code or child_toward(parents, site_code, code) is not None),
                 None)
    if owner is None and is_root and _in_region(area, site_code):
        owner = site_code  # no office of the area's tiers in the city: the city decides
    if owner is None:
        return None if is_root else Placement("")
    origin = events[0].origin
    usual = _usual_owner(origin, str(item.tier), parents)
    if owner == usual:
        return Placement(owner)  # the registering branch's own office is the competent one
    origin_side = child_toward(parents, site_code, origin)
    if origin == site_code:  # registered at this site's own desk (the hub's: online too)
        changes_branch = owner != site_code  # and decided below it: sent down from here
    else:
        changes_branch = origin_side is not None and (
            owner == site_code or origin_side != child_toward(parents, site_code, owner))
    if not changes_branch:
        return Placement(owner)  # a site below this one records the referral
    referral: dict[str, Any] = {"to": owner, "area": area,
                                "reason": _reason(item, area, owner, candidates)}
    station = events[0].payload.get(HANDOVER_STATION)
    if isinstance(station, str) and station:
        if child_toward(parents, owner, station) is not None:
            referral["handover"] = station  # the applicant collects it near home
        else:
            referral["reason"] += f";交付站点 {station} 不在 {owner} 辖区,结果在受理站点交付"
    return Placement(owner, referral)


def _in_region(area: str, hub_code: str) -> bool:
    """Whether ``area`` lies in the city the hub serves (a prefecture's code ends in 00)."""
    return area.startswith(hub_code[:4] if hub_code.endswith("00") else hub_code)


def _usual_owner(origin: str, tier: str, parents: Mapping[str, str | None]) -> str | None:
    """The office of ``tier`` on the registering station's own path (the default rule)."""
    digits = TIER_DIGITS[tier]
    current: str | None = origin
    for _ in range(32):
        if current is None:
            return None
        if len(current) == digits:
            return current
        current = parents.get(current)
    return None


def _reason(item: ServiceItem, area: str, owner: str, candidates: Sequence[str]) -> str:
    whose = "申请人户籍地" if item.competence.by.value == "residence" else "办理事项所在地"
    if owner == candidates[0]:
        return f"{whose} {area} 由 {owner} 办理(全城通办)"
    return (f"{whose} {area} 无{_TIER_NAMES[str(item.tier)]}办理窗口,"
            f"由上一级 {owner} 办理(全城通办)")



_TIER_NAMES = {"township": "乡镇", "county": "县级"}
