"""Site codes and tiers as the protocol checks them (the domain owns their meaning)."""

from __future__ import annotations

from sync_protocol.errors import Malformed

TIERS = ("city", "county", "township", "village")
"""Tier names; a provincial hub above a city uses ``city`` too."""


def check_site_code(code: str, field: str) -> str:
    """An administrative-division style code: 6 to 15 ASCII digits."""
    if not (6 <= len(code) <= 15 and code.isascii() and code.isdigit()):
        raise Malformed(field, f"{code!r} is not a site code (6-15 digits)")
    return code


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise Malformed("tier", f"{tier!r} is not one of {', '.join(TIERS)}")
    return tier
