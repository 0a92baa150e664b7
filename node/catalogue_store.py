"""The catalogue this node offers: the last release it stored, or the sample until then.

Enrolment and the sync job write the content of signed releases into the data directory as
``catalogue.json``; until one exists (a demo, a node set up by hand) ``catalogue.yaml`` or the
packaged sample catalogue is used. An item missing from the held catalogue — withdrawn
by a newer release — cannot be registered.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.catalogue import Catalogue
from shared.catalogue_loader import load_catalogue, load_sample_catalogue
from shared.release_content import catalogue_from_release

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
