"""The catalogue this node offers: the last release it stored, or the sample until then;
and every release it took, by version, for the cases accepted under each.

Enrolment and the sync job write the content of signed releases into the data directory as
``catalogue.json``; until one exists (a demo, a node set up by hand) ``catalogue.yaml`` or the
packaged sample catalogue is used. An item missing from the held catalogue — withdrawn
by a newer release — cannot be registered.

Each release taken is also kept as ``catalogues/<version>.json``: a township or county that
decides cases decides each by the release it was accepted under
(:mod:`shared.domain.catalogue_versions`). :meth:`HeldCatalogue.prune` drops the oldest of
them beyond :data:`~shared.domain.catalogue_versions.MAX_HELD`, never one an open case uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node.models import NodeCase, NodeWindowCase
from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_catalogue, load_sample_catalogue
from shared.domain.catalogue_versions import MAX_HELD, versions_to_prune
from shared.domain.release_content import catalogue_from_release
from shared.storage.private_files import replace_private

LOG = logging.getLogger("sanji.node.catalogue")
CATALOGUE_FILES = ("catalogue.json", "catalogue.yaml")
VERSIONS_DIR = "catalogues"


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
    folder = data_dir / VERSIONS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    replace_private(folder / f"{catalogue.version}.json", content)  # kept first
    replace_private(data_dir / CATALOGUE_FILES[0], content)
    return catalogue


def held_versions(data_dir: Path) -> list[int]:
    """The catalogue versions kept in ``catalogues/``, oldest first."""
    folder = data_dir / VERSIONS_DIR
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())


class HeldCatalogue:
    """The catalogue a node process offers, re-read when its file changes on disk (the sync
    job of this process, ``sanji node sync-now`` or an operator may have replaced it)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._stamp: tuple[str, int] | None = None
        self._catalogue: Catalogue | None = None
        self._versions: dict[int, Catalogue] = {}

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

    def version(self, number: int) -> Catalogue | None:
        """The release ``number`` if this node took it (or offers it now), else None."""
        current = self.current()
        if current.version == number:
            return current
        found = self._versions.get(number)
        if found is None:
            path = self.data_dir / VERSIONS_DIR / f"{number}.json"
            if path.is_file():
                found = self._versions[number] = load_catalogue(path)
            else:  # what the node offered before any release came: its yaml or the sample
                before = self._before_releases()
                found = before if before.version == number else None
        return found

    def _before_releases(self) -> Catalogue:
        cached = self._versions.get(-1)
        if cached is None:
            path = self.data_dir / CATALOGUE_FILES[1]
            cached = load_catalogue(path) if path.is_file() else load_sample_catalogue()
            self._versions[-1] = cached
        return cached

    def for_case(self, number: int | None) -> Catalogue:
        """The release a case accepted under ``number`` is read by here: that one when kept,
        else the newest (a village only registers and shows; deciding sites warn)."""
        found = self.version(number) if number is not None else None
        return found if found is not None else self.current()

    def oldest(self) -> Catalogue | None:
        """The oldest release kept (the one offered now when none is)."""
        held = held_versions(self.data_dir)
        return self.version(held[0]) if held else self.current()

    def prune(self, in_use: Collection[int], keep: int = MAX_HELD) -> list[int]:
        """Drop the oldest kept releases beyond ``keep`` that no open case (``in_use``:
        the versions open cases were accepted under) needs; returns the versions dropped."""
        dropped = versions_to_prune(held_versions(self.data_dir), in_use, keep)
        for number in dropped:
            (self.data_dir / VERSIONS_DIR / f"{number}.json").unlink(missing_ok=True)
            self._versions.pop(number, None)
        return dropped


def versions_in_use(session: Session, data_dir: Path) -> set[int]:
    """The releases this node's open cases were accepted under: those its windows decide
    and those registered here and not yet handed over (their page and receipt read the
    item from it). A window case that names none is read as accepted under the oldest
    kept, which is then in use."""
    found: set[int | None] = set(session.scalars(
        select(NodeWindowCase.catalogue_version).where(NodeWindowCase.open == 1).distinct()))
    found |= set(session.scalars(select(NodeCase.catalogue_version)
                                 .where(NodeCase.stage != "handed_over").distinct()))
    in_use = {v for v in found if v is not None}
    held = held_versions(data_dir)
    if None in found and held:
        in_use.add(held[0])
    return in_use


def prune_kept(held: HeldCatalogue, sessions: Callable[[], Session]) -> list[int]:
    """After a release is taken: drop the kept releases beyond the bound that no open case
    uses. A database that cannot be read prunes nothing (logged): keeping one release too
    many is harmless, the release itself is taken either way."""
    try:
        with sessions() as session:
            in_use = versions_in_use(session, held.data_dir)
    except SQLAlchemyError as exc:
        LOG.warning("kept catalogues not pruned", extra={"fields": {
            "error": type(exc).__name__}})
        return []
    return held.prune(in_use)
