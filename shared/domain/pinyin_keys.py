"""Pinyin search keys of item names, computed in a short-lived child process.

pypinyin's phrase dictionary (needed to read polyphones right: 银行 is yin hang, 重庆 is
chong qing) costs about 55 MB resident once imported. A node runs for months on a village PC
with little memory, and a catalogue has a few hundred names, so the keys are computed once in
a child process that exits at once, and cached here by name.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterable

_CACHE: dict[str, tuple[str, str]] = {}
_LOCK = threading.Lock()
_TIMEOUT_SECONDS = 60


def _compact(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def compute_keys(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(initials, full pinyin) per name, in this process (imports pypinyin)."""
    from pypinyin import Style, lazy_pinyin

    return {
        name: (
            _compact("".join(lazy_pinyin(name, style=Style.FIRST_LETTER))),
            _compact("".join(lazy_pinyin(name))),
        )
        for name in names
    }


def pinyin_keys(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The keys of ``names``; names not seen before are computed in one child process."""
    wanted = list(dict.fromkeys(names))
    with _LOCK:
        missing = [name for name in wanted if name not in _CACHE]
        if missing:
            _CACHE.update(_compute_in_child(missing))
        return {name: _CACHE[name] for name in wanted}


def _compute_in_child(names: list[str]) -> dict[str, tuple[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "shared.domain.pinyin_keys"],
        input=json.dumps(names, ensure_ascii=False).encode(),
        capture_output=True,
        timeout=_TIMEOUT_SECONDS,
        check=True,
    )
    found = json.loads(done.stdout.decode())
    return {name: (str(keys[0]), str(keys[1])) for name, keys in found.items()}


def _main() -> None:
    names = json.loads(sys.stdin.buffer.read().decode())
    sys.stdout.write(json.dumps(compute_keys(str(n) for n in names), ensure_ascii=False))


if __name__ == "__main__":
    _main()
