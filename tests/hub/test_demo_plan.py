"""The demo city's plan: a tree with explicit parents, and users for every window."""

from __future__ import annotations

import pytest

from hub.demo_plan import plan_city
from shared.domain.catalogue import SiteTier
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.sites import Site, SiteTree, Tier


@pytest.mark.parametrize("depth", [3, 4])
def test_the_plan_is_a_valid_tree_with_distinct_ports(depth: int) -> None:
    plan = plan_city(
        load_sample_catalogue(), townships=2, villages_per_township=2, depth=depth, base_port=8000
    )
    tiers = [s.tier for s in plan.sites]
    assert tiers.count("township") == 2
    assert tiers.count("village") == 4
    assert tiers.count("county") == (1 if depth == 4 else 0)
    assert len({s.port for s in plan.sites}) == len(plan.sites)
    tree = SiteTree([Site(s.code, s.name, Tier(s.tier), s.parent) for s in plan.sites])
    village = next(s for s in plan.sites if s.tier == "village")
    assert len(tree.path_to_root(village.code)) == depth


def test_every_window_has_a_reviewer_and_a_different_checker() -> None:
    catalogue = load_sample_catalogue()
    plan = plan_city(catalogue, townships=1, villages_per_township=1, depth=3, base_port=8000)
    for window in catalogue.windows_at(SiteTier.CITY):
        operators = [u for u in plan.users if u.window == window.code]
        assert len({u.username for u in operators}) == 2
    agent = next(u for u in plan.users if u.role == "agent" and u.site != "431000")
    assert agent.site == "431002001201"
    assert all(u.totp_secret for u in plan.users if u.role in ("admin", "supervisor"))
    again = plan_city(catalogue, townships=1, villages_per_township=1, depth=3, base_port=8000)
    assert plan.users[0].password != again.users[0].password  # generated at each start


@pytest.mark.parametrize("depth", [3, 4])
def test_every_deciding_department_has_a_head_and_demo_json_keeps_its_shape(depth: int) -> None:
    catalogue = load_sample_catalogue()
    plan = plan_city(catalogue, townships=1, villages_per_township=1, depth=depth,
                     base_port=8000)
    heads = [u for u in plan.users if u.role == "department_head"]
    county_site = "431002" if depth == 4 else "431000"
    for tier, site in ((SiteTier.CITY, "431000"), (SiteTier.COUNTY, county_site)):
        wanted = {w.department for w in catalogue.windows_at(tier)}
        assert {u.department for u in heads if u.site == site} >= wanted
    assert all(u.window is None and u.department for u in heads)
    assert len({u.username for u in plan.users}) == len(plan.users)
    assert set(heads[0].as_json()) == set(plan.users[0].as_json())
