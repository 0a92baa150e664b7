"""At a township node, a case is decided under the catalogue release it was accepted under.

The real tree runs as processes (``tests.integration.city``). The hub publishes catalogue v2
and it comes down; a village registers a case of MZ-0305 (临时救助申请, decided at the
township, 5 promised working days). Then v3 gives the item 12 promised days and comes down,
and a second case is registered. The township's operator accepts both: the first keeps v2's
5 days, the second gets v3's 12, and each case page names its version. A release the
township never received (its kept copy removed, as on a freshly replaced PC) is replaced by
the newest, with a note on the case page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from node.catalogue_store import VERSIONS_DIR
from tests.integration.city import Tree, city
from tests.integration.processes import sanji
from tests.integration.test_three_tiers import TOWNSHIP_FORM, TOWNSHIP_ITEM, _register
from tests.node.test_township_window_pages import _log_in, _token

WINDOW = "W-MZ-11"
TIMEOUT = 10
SAMPLE = Path(__file__).parents[2] / "shared" / "domain" / "data" / "sample_catalogue.yaml"
DAYS = "    legal_days: 15\n    promised_days: 5\n"


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {"431002001": [("t-desk", WINDOW)]}) as built:
        yield built


def _publish(tree: Tree, tmp_path: Path, version: int, promised_days: int) -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace("version: 1\n", f"version: {version}\n", 1)
    assert text.count(DAYS) == 1
    text = text.replace(DAYS, DAYS.replace("5", str(promised_days)))
    path = tmp_path / f"catalogue-{version}.yaml"
    path.write_text(text, encoding="utf-8")
    out = sanji("hub", "import-catalog", str(path), "--data-dir", str(tree.dirs["hub"]))
    assert f"catalogue version {version} published" in out
    tree.sync("township", "village")


def _accept(desk: requests.Session, case_url: str) -> str:
    for action in ("claim", "accept"):
        page = desk.get(case_url, timeout=TIMEOUT).text
        done = desk.post(f"{case_url}/act", data={"csrf_token": _token(page), "action": action},
                         timeout=TIMEOUT)
        assert done.status_code == 200 and done.url == f"{case_url}?done={action}", done.text
    return desk.get(case_url, timeout=TIMEOUT).text


def _days_left(page: str) -> int:
    found = re.search(r"剩余 (\d+) 个工作日", page)
    assert found is not None, "no deadline shown"
    return int(found.group(1))


@pytest.mark.integration
def test_a_township_decides_each_case_under_the_release_it_was_accepted_under(
    tree: Tree, tmp_path: Path
) -> None:
    _publish(tree, tmp_path, 2, promised_days=5)
    older = _register(tree.village, "under-v2", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    _publish(tree, tmp_path, 3, promised_days=12)
    newer = _register(tree.village, "under-v3", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    lost = _register(tree.village, "under-v3-too", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    tree.sync("village")
    base = tree.township.url
    kept = sorted(p.name for p in (tree.dirs["township"] / VERSIONS_DIR).iterdir())
    assert kept == ["2.json", "3.json"]

    desk, _ = _log_in(base, "t-desk")
    old_page = _accept(desk, f"{base}/windows/cases/{older['case_id']}")
    new_page = _accept(desk, f"{base}/windows/cases/{newer['case_id']}")
    assert 'id="catalogue-version">v2' in old_page and "catalogue-note" not in old_page
    assert 'id="catalogue-version">v3' in new_page
    assert _days_left(new_page) - _days_left(old_page) == 12 - 5

    # the township loses v3's kept copy and is put back to v2 (a PC set up again from an
    # old disk): the case accepted under v3 is decided by the newest held, and says so
    (tree.dirs["township"] / VERSIONS_DIR / "3.json").unlink()
    (tree.dirs["township"] / "catalogue.json").write_bytes(
        (tree.dirs["township"] / VERSIONS_DIR / "2.json").read_bytes())
    lost_page = _accept(desk, f"{base}/windows/cases/{lost['case_id']}")
    assert 'id="catalogue-version">v2' in lost_page
    assert "catalogue v3 the case was accepted under is not held at this site" in lost_page
    assert _days_left(lost_page) == _days_left(old_page)
