"""The tree of sites: codes, tiers, explicit parents, and routing one hop at a time.

Site codes look like Chinese administrative division codes (6 digits for a province,
city or county, 9 for a township, 12 for a village), but a site's parent is whatever
was recorded when it was added, never derived from the code: a township may sit right
under the city hub, or under a county node, and the depth of the tree is not fixed.
A site talks only to its parent and its children, so :meth:`SiteTree.next_hop_toward`
is how anything reaches a site further away.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

from shared.domain.errors import InvalidInput, NotFound, Problems
from shared.domain.identity import validate_organisation_name


class Tier(StrEnum):
    """The administrative level a site serves, highest first."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"

    @property
    def rank(self) -> int:
        """Higher is higher up: a child's rank is always below its parent's."""
        return _RANKS[self]

    @property
    def code_length(self) -> int:
        """Digits in the code of a site of this tier."""
        return _CODE_LENGTHS[self]

    @property
    def may_decide(self) -> bool:
        """Whether a site of this tier may have deciding windows (a village registers only)."""
        return self is not Tier.VILLAGE

    @property
    def may_have_children(self) -> bool:
        return self is not Tier.VILLAGE


_RANKS = {
    Tier.PROVINCE: 4,
    Tier.CITY: 3,
    Tier.COUNTY: 2,
    Tier.TOWNSHIP: 1,
    Tier.VILLAGE: 0,
}
_CODE_LENGTHS = {
    Tier.PROVINCE: 6,
    Tier.CITY: 6,
    Tier.COUNTY: 6,
    Tier.TOWNSHIP: 9,
    Tier.VILLAGE: 12,
}
CODE_LENGTHS = frozenset(_CODE_LENGTHS.values())
SITE_KEYS = frozenset({"code", "name", "tier", "parent"})


def parse_tier(value: object, field: str = "tier") -> Tier:
    """A tier from its name; :class:`InvalidInput` listing the names otherwise."""
    if isinstance(value, Tier):
        return value
    if isinstance(value, str):
        try:
            return Tier(value)
        except ValueError:
            pass
    names = ", ".join(t.value for t in Tier)
    raise InvalidInput(field, f"must be one of {names}")


def validate_site_code(value: object, field: str = "code") -> str:
    """A site code: 6, 9 or 12 ASCII digits."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "required")
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput(field, f"{value!r} must contain only digits")
    if len(value) not in CODE_LENGTHS:
        raise InvalidInput(field, f"{value} must have 6, 9 or 12 digits, not {len(value)}")
    return value


def tier_may_decide(tier: Tier | str) -> bool:
    """Whether windows at this tier may decide cases (False for a village)."""
    return parse_tier(tier).may_decide


@dataclass(frozen=True, slots=True)
class Site:
    """One site: its code, name, tier, and the parent recorded for it (None for the top)."""

    code: str
    name: str
    tier: Tier
    parent: str | None = None

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        try:
            object.__setattr__(self, "tier", parse_tier(self.tier))
        except InvalidInput as exc:
            problems["tier"] = exc.reason
        try:
            validate_site_code(self.code)
            if "tier" not in problems and len(self.code) != self.tier.code_length:
                problems["code"] = (
                    f"a {self.tier.value} code has {self.tier.code_length} digits, "
                    f"{self.code} has {len(self.code)}"
                )
        except InvalidInput as exc:
            problems["code"] = exc.reason
        try:
            object.__setattr__(self, "name", validate_organisation_name(self.name))
        except InvalidInput as exc:
            problems["name"] = exc.reason
        if self.parent is not None:
            try:
                validate_site_code(self.parent, "parent")
                if self.parent == self.code:
                    problems["parent"] = "a site cannot be its own parent"
            except InvalidInput as exc:
                problems["parent"] = exc.reason
        if problems:
            raise Problems(problems, f"invalid site {self.code!r}")

    def to_dict(self) -> dict[str, str | None]:
        """The shape ``demo.json`` and ``add-site`` use."""
        return {
            "code": self.code,
            "name": self.name,
            "tier": self.tier.value,
            "parent": self.parent,
        }


def site_from_dict(data: Mapping[str, object], prefix: str = "site") -> Site:
    """A :class:`Site` from ``{"code", "name", "tier", "parent"}``; problems under ``prefix``."""
    if not isinstance(data, Mapping):
        raise Problems({prefix: "must be an object with code, name, tier and parent"})
    problems = {f"{prefix}.{k}": "unknown field" for k in sorted(set(data) - SITE_KEYS, key=str)}
    code, name, tier, parent = (data.get(k) for k in ("code", "name", "tier", "parent"))
    if not isinstance(name, str):
        problems[f"{prefix}.name"] = "required" if name is None else "must be text"
    for key, value in (("code", code), ("parent", parent)):
        if value is not None and not isinstance(value, str):
            problems[f"{prefix}.{key}"] = "must be text"
    try:
        site = Site(str(code or ""), str(name or ""), parse_tier(tier), _opt(parent))
    except InvalidInput as exc:
        for key, reason in exc.fields.items():
            problems.setdefault(f"{prefix}.{key}", reason)
        site = None
    if problems or site is None:
        raise Problems(problems, "invalid site")
    return site


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


class SiteTree:
    """A validated set of sites forming one tree; answers questions of place and route.

    Built all at once, refusing with every problem listed (keys ``sites.<code>.<field>``):
    one root, every parent present, no cycle, and each child's tier below its parent's
    (so a village has no children).
    """

    def __init__(self, sites: Iterable[Site]) -> None:
        listed = list(sites)
        problems: dict[str, str] = {}
        by_code: dict[str, Site] = {}
        for site in listed:
            if site.code in by_code:
                problems[f"sites.{site.code}"] = f"{site.code} is listed more than once"
            else:
                by_code[site.code] = site
        if not by_code:
            raise Problems({"sites": "at least one site is required"}, "invalid site tree")
        roots = [s.code for s in by_code.values() if s.parent is None]
        if not roots:
            problems["sites"] = "no site is the root: exactly one site must have no parent"
        elif len(roots) > 1:
            problems["sites"] = (
                f"{len(roots)} sites have no parent ({', '.join(sorted(roots))}); "
                "exactly one may be the root"
            )
        for site in by_code.values():
            if site.parent is None:
                continue
            parent = by_code.get(site.parent)
            if parent is None:
                problems[f"sites.{site.code}.parent"] = f"unknown parent {site.parent}"
            elif site.tier.rank >= parent.tier.rank:
                problems[f"sites.{site.code}.tier"] = (
                    f"a {site.tier.value} cannot be the child of a {parent.tier.value} "
                    f"({parent.code})"
                )
        for code, cycle in _cycles(by_code).items():
            problems.setdefault(f"sites.{code}.parent", f"forms a cycle: {' -> '.join(cycle)}")
        if problems:
            raise Problems(problems, "invalid site tree")
        self._sites: Mapping[str, Site] = MappingProxyType(dict(sorted(by_code.items())))
        self._root = by_code[roots[0]]
        kids: dict[str, list[Site]] = {code: [] for code in self._sites}
        for site in self._sites.values():
            if site.parent is not None:
                kids[site.parent].append(site)
        self._children = {code: tuple(v) for code, v in kids.items()}

    @classmethod
    def from_dicts(cls, data: Iterable[Mapping[str, object]]) -> SiteTree:
        """A tree from ``[{"code", "name", "tier", "parent"}, ...]``; problems as ``sites[i]``."""
        problems: dict[str, str] = {}
        sites: list[Site] = []
        for i, entry in enumerate(data):
            try:
                sites.append(site_from_dict(entry, f"sites[{i}]"))
            except InvalidInput as exc:
                problems.update(exc.fields)
        if problems:
            raise Problems(problems, "invalid site tree")
        return cls(sites)

    def to_dicts(self) -> list[dict[str, str | None]]:
        """Every site, root first then each subtree in code order."""
        return [s.to_dict() for s in self.subtree(self._root.code)]

    def with_site(self, site: Site) -> SiteTree:
        """A new tree with ``site`` added (``add-site``); this tree is unchanged."""
        if site.code in self._sites:
            raise InvalidInput("code", f"{site.code} is already a site")
        return SiteTree([*self._sites.values(), site])

    # -- lookups --------------------------------------------------------------------

    @property
    def root(self) -> Site:
        return self._root

    def __len__(self) -> int:
        return len(self._sites)

    def __contains__(self, code: object) -> bool:
        return code in self._sites

    def __iter__(self) -> Iterator[Site]:
        return iter(self._sites.values())

    def get(self, code: str) -> Site:
        """The site with ``code``; :class:`NotFound` if there is none."""
        site = self._sites.get(code)
        if site is None:
            raise NotFound("site", f"no site with code {code}")
        return site

    def parent_of(self, code: str) -> Site | None:
        parent = self.get(code).parent
        return None if parent is None else self._sites[parent]

    def children(self, code: str) -> tuple[Site, ...]:
        """The sites directly below, in code order."""
        self.get(code)
        return self._children[code]

    def path_to_root(self, code: str) -> tuple[Site, ...]:
        """The site itself, its parent, and so on up to the root."""
        path = [self.get(code)]
        while path[-1].parent is not None:
            path.append(self._sites[path[-1].parent])
        return tuple(path)

    def depth(self, code: str) -> int:
        """0 for the root."""
        return len(self.path_to_root(code)) - 1

    def subtree(self, code: str) -> tuple[Site, ...]:
        """The site and everything below it, depth first, children in code order."""
        out: list[Site] = []
        stack = [self.get(code)]
        while stack:
            site = stack.pop()
            out.append(site)
            stack.extend(reversed(self._children[site.code]))
        return tuple(out)

    def is_within(self, code: str, ancestor: str) -> bool:
        """Whether ``code`` is ``ancestor`` or below it (a supervisor's scope)."""
        self.get(ancestor)
        return any(s.code == ancestor for s in self.path_to_root(code))

    def next_hop_toward(self, from_code: str, to_code: str) -> str:
        """The neighbour ``from_code`` hands traffic to so that it reaches ``to_code``.

        A child of ``from_code`` when the target lies below it, else its parent.
        """
        path = self.path_to_root(to_code)
        self.get(from_code)
        if from_code == to_code:
            raise InvalidInput("to", f"{to_code} is the sending site itself")
        for below, site in pairwise(path):
            if site.code == from_code:
                return below.code
        parent = self._sites[from_code].parent
        assert parent is not None  # the root is on every path, so it returned above
        return parent

    def may_decide(self, code: str) -> bool:
        """Whether the site's tier allows deciding windows."""
        return self.get(code).tier.may_decide


def _cycles(by_code: Mapping[str, Site]) -> dict[str, list[str]]:
    """For each site on a parent cycle, the cycle as a list of codes."""
    found: dict[str, list[str]] = {}
    for start in by_code:
        seen: list[str] = []
        code: str | None = start
        while code is not None and code in by_code and code not in seen:
            seen.append(code)
            code = by_code[code].parent
        if code is not None and code in seen and code == start:
            found[start] = [*seen, start]
    return found
