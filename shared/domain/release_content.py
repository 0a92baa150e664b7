"""What the hub's signed releases carry, and how a site reads it back.

The protocol treats a release's content as opaque bytes (``sync_protocol.releases``); the
domain fixes it here: a catalogue release is the checked catalogue as compact UTF-8 JSON (the
same document ``sanji hub import-catalog`` read, re-encoded, so every site parses exactly what
the hub checked), and a calendar release is one year's holidays and adjusted working days in
the form :func:`shared.domain.working_days.calendar_from_release` reads. Both are checked again on
arrival: a signed release with content the site cannot use is refused, never half-applied.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_catalogue_text
from shared.domain.errors import InvalidInput
from shared.domain.working_days import YearCalendar, calendar_from_release

CATALOGUE = "catalogue"
CALENDAR = "calendar"


def _compact_json(data: Any) -> bytes:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return text.encode()


def catalogue_release_content(text: str | bytes, fmt: str) -> tuple[Catalogue, bytes]:
    """Check a catalogue file's text (``yaml`` or ``json``) and give the release content.

    Raises :class:`~shared.domain.errors.Problems` listing every problem of the catalogue.
    """
    catalogue = load_catalogue_text(text, fmt)
    raw = text.decode("utf-8") if isinstance(text, bytes) else text
    data = yaml.safe_load(raw) if fmt == "yaml" else json.loads(raw)  # both already checked
    content = _compact_json(data)
    load_catalogue_text(content, "json")  # what the sites will parse must parse here too
    return catalogue, content


def catalogue_from_release(content: bytes) -> Catalogue:
    """The catalogue a release carries, checked as the hub checked it."""
    return load_catalogue_text(content, "json")


def calendar_release_content(year: YearCalendar) -> bytes:
    """One year's calendar as release content."""
    return _compact_json(year.to_release_dict())


def calendar_from_release_content(content: bytes) -> YearCalendar:
    """The year a calendar release carries; :class:`InvalidInput` when it is not JSON."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("calendar", f"not JSON: {exc}") from None
    return calendar_from_release(data)
