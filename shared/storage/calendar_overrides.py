"""A site's own working-day overrides (a local holiday, a local working day), read from
``calendar_overrides.json`` in its data directory.

The national calendar comes from the shipped years and the hub's calendar releases; a
district may declare a day of its own (a local festival, a make-up working day after a
flood). The file is optional; when present it is checked in full when the site starts
(:func:`shared.domain.working_days.overrides_from_dict`: dates, names, a day listed both
ways, unknown keys — every problem named by its field) and must name this site, so a file
copied from another site's PC is refused rather than silently applied.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.domain.errors import InvalidInput
from shared.domain.working_days import NO_OVERRIDES, CalendarOverrides, overrides_from_dict

OVERRIDES_FILE = "calendar_overrides.json"


def load_overrides(data_dir: Path, site_code: str) -> CalendarOverrides:
    """The site's overrides, or none when the file is absent; raises a domain error that
    names the problem when the file is not valid."""
    path = Path(data_dir) / OVERRIDES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return NO_OVERRIDES
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(OVERRIDES_FILE, f"not JSON (line {exc.lineno}): {exc.msg}") from None
    overrides = overrides_from_dict(data)
    if overrides.site and overrides.site != site_code:
        raise InvalidInput(f"{OVERRIDES_FILE}.site",
                           f"the overrides are for site {overrides.site}, not {site_code}")
    return overrides
