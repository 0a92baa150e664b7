"""A real full disk for a node: its data directory moved onto a tiny tmpfs mounted over the
same path, so the node's own writes (SQLite, scans) meet ENOSPC from the kernel; growing the
mount is the space coming back. Needs the right to mount (root with CAP_SYS_ADMIN); without
it :func:`mount_refused` says why and the test is skipped outside CI."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PAGE = 4096


def mount_refused() -> str | None:
    """Why a tmpfs cannot be mounted here, or None."""
    probe = Path(tempfile.mkdtemp(prefix="sanji-mount-probe-"))
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            return f"cannot mount a tmpfs here ({done.stderr.strip()[:200]})"
        subprocess.run(["umount", str(probe)], check=True, timeout=30)
        return None
    except FileNotFoundError:
        return "no mount command"
    finally:
        probe.rmdir()


def _used(directory: Path) -> int:
    """What ``directory`` takes on a tmpfs: whole pages per file and directory."""
    total = 0
    for path in [directory, *directory.rglob("*")]:
        size = path.stat().st_size if path.is_file() else 0
        total += max(PAGE, -(-size // PAGE) * PAGE)
    return total


@dataclass
class SmallDisk:
    path: Path

    def grow(self, size: int = 256 << 20) -> None:
        """The space comes back: the same mount, larger, the files untouched."""
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True,
                       timeout=30)


@contextmanager
def small_disk(directory: Path, free: int) -> Iterator[SmallDisk]:
    """``directory``'s files on a tmpfs with about ``free`` bytes left; every process using
    it must be stopped before the block ends (the files are copied back, the mount removed).
    """
    aside = Path(tempfile.mkdtemp(prefix="sanji-disk-"))
    shutil.copytree(directory, aside / "data", symlinks=True)
    size = _used(directory) + free
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(directory)], check=True, timeout=30)
    try:
        shutil.copytree(aside / "data", directory, symlinks=True, dirs_exist_ok=True)
        yield SmallDisk(directory)
        shutil.rmtree(aside / "data")
        shutil.copytree(directory, aside / "data", symlinks=True)
    finally:
        subprocess.run(["umount", str(directory)], check=True, timeout=30)
        shutil.copytree(aside / "data", directory, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(aside, ignore_errors=True)
