"""The catalogue this node offers: the last release it stored, or the sample until then.

Enrolment and the sync job will write signed releases into the data directory as
``catalogue.json``; until one exists (a demo, a node set up by hand) ``catalogue.yaml`` or the
packaged sample catalogue is used. An item missing from the held catalogue — withdrawn
by a newer release — cannot be registered.
"""

from __future__ import annotations

from pathlib import Path

from shared.catalogue import Catalogue
from shared.catalogue_loader import load_catalogue, load_sample_catalogue

CATALOGUE_FILES = ("catalogue.json", "catalogue.yaml")


def load_node_catalogue(data_dir: Path) -> Catalogue:
    """The newest catalogue held in ``data_dir``, or the sample catalogue."""
    for name in CATALOGUE_FILES:
        path = data_dir / name
        if path.is_file():
            return load_catalogue(path)
    return load_sample_catalogue()
