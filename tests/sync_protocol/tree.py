"""A small certified tree of sites for the protocol tests: keys, certificates, keyrings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sync_protocol import (
    Certificate,
    ChainHead,
    Event,
    KeyRing,
    SiteKey,
    append_event,
    generate_key,
    issue_certificate,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HUB = "431000"


@dataclass
class Tree:
    """Every site's key and certificate, issued by the hub key."""

    hub_key: SiteKey
    parents: dict[str, str | None]
    tiers: dict[str, str]
    keys: dict[str, SiteKey] = field(default_factory=dict)
    certs: dict[str, Certificate] = field(default_factory=dict)

    def keyring(self, *, all_certs: bool = True) -> KeyRing:
        ring = KeyRing(HUB, self.hub_key.public_raw)
        if all_certs:
            ring.add_all(self.certs.values())
        return ring

    def children(self, site: str) -> list[str]:
        return [s for s, p in self.parents.items() if p == site]

    def path_to_hub(self, site: str) -> list[str]:
        out = [site]
        while (p := self.parents[out[-1]]) is not None:
            out.append(p)
        return out


def make_tree(depth: int = 3, fanouts: tuple[int, ...] = (2, 2)) -> Tree:
    """A certified tree: hub ``431000``; then counties (depth 4), townships, villages.

    ``fanouts`` gives the children per site at each level below the hub.
    """
    hub_key = generate_key(HUB)
    tiers = {3: ["city", "township", "village"],
             4: ["city", "county", "township", "village"]}[depth]
    digits = {"county": 2, "township": 3, "village": 3}
    parents: dict[str, str | None] = {HUB: None}
    tier_of = {HUB: "city"}
    level = [HUB]
    for d in range(1, depth):
        tier = tiers[d]
        below = []
        for p in level:
            for i in range(1, fanouts[d - 1] + 1):
                n = i + 200 if tier == "village" else i
                code = f"{p}{n:0{digits[tier]}d}"
                parents[code] = p
                tier_of[code] = tier
                below.append(code)
        level = below
    tree = Tree(hub_key, parents, tier_of)
    for site, parent in parents.items():
        key = hub_key if site == HUB else generate_key(site)
        tree.keys[site] = key
        tree.certs[site] = issue_certificate(hub_key, site=site, parent=parent,
                                             tier=tier_of[site], public_raw=key.public_raw,
                                             now=T0)
    return tree


def author(key: SiteKey, head: ChainHead, n: int, *, at: datetime = T0,
           type_: str = "registered") -> list[Event]:
    """``n`` events of ``key``'s chain after ``head``, one case each."""
    out = []
    for i in range(n):
        e = append_event(head, key, case_id=uuid.uuid4(), actor=f"agent@{key.site}",
                         at=at + timedelta(seconds=i), type=type_,
                         payload={"item_code": "MZ-0203", "applicant": {"name": "张三"},
                                  "form": {"n": i}})
        out.append(e)
        head = e.head
    return out
