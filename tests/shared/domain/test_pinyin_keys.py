"""Pinyin search keys: right for polyphones, and computed outside the long-running process."""

from __future__ import annotations

import subprocess
import sys

from shared.domain.pinyin_keys import compute_keys, pinyin_keys


def test_polyphones_are_read_in_context() -> None:
    keys = pinyin_keys(["中国银行开户", "重庆市户籍迁入"])
    assert keys["中国银行开户"][0] == "zgyhkh"
    assert keys["重庆市户籍迁入"][1].startswith("chongqing")
    assert keys == compute_keys(["中国银行开户", "重庆市户籍迁入"])


def test_a_node_process_searching_by_pinyin_never_loads_pypinyin_or_fpdf() -> None:
    script = (
        "import sys\n"
        "import node.app, node.case_views, hub.app\n"
        "from shared.domain.catalogue import search_items\n"
        "from shared.domain.catalogue_loader import load_sample_catalogue\n"
        "found = search_items(load_sample_catalogue(), 'jhdj')\n"
        "assert found and found[0].name.zh.endswith('结婚登记'), found\n"
        "print(sorted(m for m in ('pypinyin', 'fpdf') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stderr
