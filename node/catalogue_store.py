"""The catalogue this node offers: the last release it stored, or the sample until then.

Enrolment and the sync job write the content of signed releases into the data directory as
``catalogue.json``; until one exists (a demo, a node set up by hand) ``catalogue.yaml`` or the
packaged sample catalogue is used. An item missing from the held catalogue — withdrawn
by a newer release — cannot be registered.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_catalogue, load_sample_catalogue
from shared.domain.release_content import catalogue_from_release

CATALOGUE_FILES = ("catalogue.json", "catalogue.yaml")


def load_node_catalogue(data_dir: Path) -> Catalogue:
    """The newest catalogue held in ``data_dir``, or the sample catalogue."""
    for name in CATALOGUE_FILES:
        path = data_dir / name
        if path.is_file():
            return load_catalogue(path)
    return load_sample_catalogue()


def keep_catalogue_release(data_dir: Path, content: bytes) -> Catalogue:
    """Check a catalogue release's content and make it the one this node offers (written to
    a temporary file, flushed, then renamed over ``catalogue.json``: a power cut leaves the
    old catalogue or the new one, never half of one)."""
    catalogue = catalogue_from_release(content)
    target = data_dir / CATALOGUE_FILES[0]
    temporary = target.with_suffix(".json.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return catalogue


class HeldCatalogue:
    """The catalogue a node process offers, re-read when its file changes on disk (the sync
    job of this process, ``sanji node sync-now`` or an operator may have replaced it)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._stamp: tuple[str, int] | None = None
        self._catalogue: Catalogue | None = None

    def _file_stamp(self) -> tuple[str, int] | None:
        for name in CATALOGUE_FILES:
            path = self.data_dir / name
            try:
                return name, path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
        return None

    def current(self) -> Catalogue:
        stamp = self._file_stamp()
        if self._catalogue is None or stamp != self._stamp:
            self._catalogue = load_node_catalogue(self.data_dir)
            self._stamp = stamp
        return self._catalogue

    def replace(self, content: bytes) -> Catalogue:
        self._catalogue = keep_catalogue_release(self.data_dir, content)
        self._stamp = self._file_stamp()
        return self._catalogue
