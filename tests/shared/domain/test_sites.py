"""The site tree: explicit parents, tiers in order, any depth, one-hop routing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import InvalidInput, NotFound, Problems
from shared.domain.sites import Site, SiteTree, Tier, site_from_dict, tier_may_decide

PROPERTY = settings(max_examples=150, deadline=None)

CITY = Site("431000", "郴州市政务服务中心", Tier.CITY)
COUNTY = Site("431002", "北湖区政务服务中心", Tier.COUNTY, "431000")
TOWNSHIP = Site("431002001", "华塘镇便民服务中心", Tier.TOWNSHIP, "431002")
VILLAGE = Site("431002001201", "华塘村便民服务站", Tier.VILLAGE, "431002001")
VILLAGE_2 = Site("431002001202", "塘溪村便民服务站", Tier.VILLAGE, "431002001")
# A township straight under the city (no county node) and its village.
TOWNSHIP_B = Site("431003101", "良田镇便民服务中心", Tier.TOWNSHIP, "431000")
VILLAGE_B = Site("431003101201", "良田村代办点", Tier.VILLAGE, "431003101")
SITES = [CITY, COUNTY, TOWNSHIP, VILLAGE, VILLAGE_2, TOWNSHIP_B, VILLAGE_B]


@pytest.fixture
def tree() -> SiteTree:
    return SiteTree(SITES)


def codes(sites: tuple[Site, ...]) -> list[str]:
    return [s.code for s in sites]


def test_four_tiers_deep(tree: SiteTree) -> None:
    assert tree.root == CITY
    assert codes(tree.path_to_root(VILLAGE.code)) == [
        "431002001201",
        "431002001",
        "431002",
        "431000",
    ]
    assert tree.depth(VILLAGE.code) == 3
    assert tree.depth(VILLAGE_B.code) == 2  # the parent is explicit, not derived from the code
    assert tree.parent_of(TOWNSHIP_B.code) == CITY
    assert tree.parent_of(CITY.code) is None


def test_children_and_subtrees(tree: SiteTree) -> None:
    assert codes(tree.children(CITY.code)) == ["431002", "431003101"]
    assert codes(tree.children(TOWNSHIP.code)) == ["431002001201", "431002001202"]
    assert tree.children(VILLAGE.code) == ()
    assert codes(tree.subtree(COUNTY.code)) == [
        "431002",
        "431002001",
        "431002001201",
        "431002001202",
    ]
    assert len(tree.subtree(CITY.code)) == len(SITES)
    assert tree.is_within(VILLAGE.code, COUNTY.code)
    assert not tree.is_within(VILLAGE_B.code, COUNTY.code)


@pytest.mark.parametrize(
    ("source", "target", "hop"),
    [
        ("431002001201", "431000", "431002001"),  # village up to the hub: via its township
        ("431000", "431002001201", "431002"),  # hub down to the village: via the county
        ("431002", "431002001202", "431002001"),
        ("431002001201", "431002001202", "431002001"),  # sibling villages meet at the township
        ("431002001201", "431003101201", "431002001"),  # other branch: always up first
        ("431003101", "431002001", "431000"),
        ("431002001", "431002001201", "431002001201"),
    ],
)
def test_next_hop_toward(tree: SiteTree, source: str, target: str, hop: str) -> None:
    assert tree.next_hop_toward(source, target) == hop


def test_next_hop_to_itself_or_unknown_sites(tree: SiteTree) -> None:
    with pytest.raises(InvalidInput):
        tree.next_hop_toward(CITY.code, CITY.code)
    with pytest.raises(NotFound):
        tree.next_hop_toward(CITY.code, "431099")
    with pytest.raises(NotFound):
        tree.children("999999")


def test_which_tiers_decide(tree: SiteTree) -> None:
    assert not tree.may_decide(VILLAGE.code)
    assert tree.may_decide(TOWNSHIP.code)
    assert tree.may_decide(COUNTY.code) and tree.may_decide(CITY.code)
    assert not tier_may_decide("village")
    assert tier_may_decide(Tier.PROVINCE)


def test_a_city_hub_may_have_a_province_above_it() -> None:
    province = Site("430000", "湖南省政务服务中心", Tier.PROVINCE)
    city = Site("431000", "郴州市政务服务中心", Tier.CITY, "430000")
    tree = SiteTree([province, city, *SITES[1:]])
    assert tree.root == province
    assert tree.depth(VILLAGE.code) == 4
    assert tree.next_hop_toward(VILLAGE.code, "430000") == TOWNSHIP.code


def test_with_site_adds_without_changing_the_tree(tree: SiteTree) -> None:
    new = Site("431002002", "石盖塘镇便民服务中心", "township", "431002")  # type: ignore[arg-type]
    bigger = tree.with_site(new)
    assert new.code in bigger and new.code not in tree
    assert new.tier is Tier.TOWNSHIP
    with pytest.raises(InvalidInput):
        bigger.with_site(new)
    with pytest.raises(Problems) as err:
        tree.with_site(Site("431002001301", "村下的村", Tier.VILLAGE, VILLAGE.code))
    assert "sites.431002001301.tier" in err.value.fields


def test_dict_round_trip(tree: SiteTree) -> None:
    data = tree.to_dicts()
    assert data[0] == {
        "code": "431000",
        "name": "郴州市政务服务中心",
        "tier": "city",
        "parent": None,
    }
    again = SiteTree.from_dicts(data)
    assert list(again) == list(tree)


# -- refused sites and trees --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"code": "43100", "name": "x市", "tier": "city", "parent": None}, "site.code"),
        ({"code": "43100A", "name": "x市", "tier": "city", "parent": None}, "site.code"),
        ({"code": "431002001", "name": "某镇", "tier": "county", "parent": None}, "site.code"),
        ({"code": "431000", "name": "某市", "tier": "metropolis", "parent": None}, "site.tier"),
        ({"code": "431000", "name": "", "tier": "city", "parent": None}, "site.name"),
        ({"code": "431000", "name": "某\u200b市", "tier": "city", "parent": None}, "site.name"),
        ({"code": "431000", "name": "某市", "tier": "city", "parent": "431000"}, "site.parent"),
        ({"code": "431000", "name": "某市", "tier": "city", "parent": "4310"}, "site.parent"),
        ({"code": "431000", "name": "某市", "tier": "city", "url": "http://x"}, "site.url"),
        ({"code": 431000, "name": "某市", "tier": "city"}, "site.code"),
    ],
)
def test_invalid_sites(data: dict[str, Any], key: str) -> None:
    with pytest.raises(Problems) as err:
        site_from_dict(data)
    assert key in err.value.fields, err.value.fields


def test_two_roots_are_refused() -> None:
    with pytest.raises(Problems) as err:
        SiteTree([CITY, Site("432000", "另一市", Tier.CITY)])
    assert "2 sites have no parent" in err.value.fields["sites"]


def test_an_unknown_parent_is_refused() -> None:
    with pytest.raises(Problems) as err:
        SiteTree([CITY, Site("431002001", "某镇", Tier.TOWNSHIP, "431099")])
    assert err.value.fields == {"sites.431002001.parent": "unknown parent 431099"}


def test_a_cycle_is_refused() -> None:
    a = Site("431002", "甲区", Tier.COUNTY, "431003")
    b = Site("431003", "乙区", Tier.COUNTY, "431002")
    with pytest.raises(Problems) as err:
        SiteTree([CITY, a, b])
    assert "cycle" in err.value.fields["sites.431002.parent"]
    assert "cycle" in err.value.fields["sites.431003.parent"]


def test_tiers_must_descend() -> None:
    with pytest.raises(Problems) as err:
        SiteTree(
            [
                CITY,
                Site("431002001", "某镇", Tier.TOWNSHIP, "431000"),
                Site("431003", "镇下的县", Tier.COUNTY, "431002001"),
                Site("431004", "市下的市", Tier.CITY, "431000"),
            ]
        )
    assert set(err.value.fields) == {"sites.431003.tier", "sites.431004.tier"}
    assert "a county cannot be the child of a township" in err.value.fields["sites.431003.tier"]


def test_every_tree_problem_at_once() -> None:
    with pytest.raises(Problems) as err:
        SiteTree.from_dicts(
            [
                CITY.to_dict(),
                {"code": "431002001", "name": "某镇", "tier": "township", "parent": "431098"},
                {"code": "431002001201", "name": "某村", "tier": "village", "parent": "431002001"},
                {
                    "code": "431002001202",
                    "name": "某村",
                    "tier": "village",
                    "parent": "431002001201",
                },
            ]
        )
    assert set(err.value.fields) == {"sites.431002001.parent", "sites.431002001202.tier"}
    with pytest.raises(Problems) as err:
        SiteTree.from_dicts([CITY.to_dict(), {"code": "1", "tier": "village"}])
    assert {"sites[1].code", "sites[1].name"} <= set(err.value.fields)
    with pytest.raises(Problems):
        SiteTree([])
    with pytest.raises(Problems) as err:
        SiteTree([CITY, CITY])
    assert "sites.431000" in err.value.fields


# -- properties ---------------------------------------------------------------------

LOWER = {
    Tier.CITY: [Tier.COUNTY, Tier.TOWNSHIP],
    Tier.COUNTY: [Tier.TOWNSHIP],
    Tier.TOWNSHIP: [Tier.VILLAGE],
}


@st.composite
def trees(draw: st.DrawFn) -> SiteTree:
    sites = [Site("431000", "郴州市", Tier.CITY)]
    for i in range(draw(st.integers(0, 25))):
        parents = [s for s in sites if s.tier in LOWER]
        parent = draw(st.sampled_from(parents))
        tier = draw(st.sampled_from(LOWER[parent.tier]))
        code = str(431001 + i) if tier.code_length == 6 else f"{i + 1:0{tier.code_length}d}"
        sites.append(Site(code, f"站点{i}", tier, parent.code))
    order = draw(st.permutations(sites))
    return SiteTree(order)


@PROPERTY
@given(tree=trees(), data=st.data())
def test_routing_hop_by_hop_reaches_the_target(tree: SiteTree, data: st.DataObject) -> None:
    all_codes = [s.code for s in tree]
    source = data.draw(st.sampled_from(all_codes))
    target = data.draw(st.sampled_from(all_codes))
    hops = 0
    here = source
    while here != target:
        nxt = tree.next_hop_toward(here, target)
        neighbours = {s.code for s in tree.children(here)} | {tree.get(here).parent}
        assert nxt in neighbours
        here = nxt
        hops += 1
        assert hops <= tree.depth(source) + tree.depth(target)
    assert tree.path_to_root(source)[-1] == tree.root
    assert sum(len(tree.children(c)) for c in all_codes) == len(tree) - 1
    assert set(codes(tree.subtree(tree.root.code))) == set(all_codes)
