"""What ``sanji node init --parent-url URL --enroll-code CODE`` does on a new node.

The node's Ed25519 key is made here and never leaves the PC (``keys/site.key``, mode 0600
in a 0700 directory). The request goes up through the parent; the hub's grant comes back and
is stored as it came (``grant.cbor``, signed by the hub), with the hub's public key pinned
in ``keys/hub.pub``. The site's name, tier and parent come from the grant — the hub's
registry is the one truth about the tree — and the catalogue in force from the grant's
catalogue release. Nothing is written until the grant has been checked, and the settings
file is written last, so a failed enrolment leaves a data directory that a second
``init`` can complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.domain.errors import InvalidInput
from shared.domain.release_content import CATALOGUE, catalogue_from_release
from shared.exchange.enrolment import Grant, enrol
from shared.exchange.key_files import signing_key
from shared.exchange.transport import frame_session
from shared.storage.private_files import write_private
from sync_protocol import SiteKey

SITE_KEY_FILE = "site.key"
HUB_KEY_FILE = "hub.pub"
GRANT_FILE = "grant.cbor"
CATALOGUE_FILE = "catalogue.json"
_CODE_SITE = re.compile(r"^(\d{6}(?:\d{3}){0,3})[.:]")


def site_from_code(code: str) -> str | None:
    """The site code a one-time enrolment code starts with (``<site>.<secret>``), if any."""
    match = _CODE_SITE.match(code.strip())
    return match.group(1) if match else None


def site_key(key_dir: Path, site: str) -> SiteKey:
    """The node's signing key, made on first use (private to the service user)."""
    return signing_key(key_dir, SITE_KEY_FILE, site)


@dataclass(frozen=True, slots=True)
class Enrolled:
    grant: Grant
    catalogue_version: int | None


def enrol_node(
    data_dir: Path, key_dir: Path, *, parent_url: str, code: str, site: str, now: datetime,
    verify: str | bool = True,
) -> Enrolled:
    """Enrol through ``parent_url`` and store the grant, the pinned hub key and the catalogue.

    Raises :class:`shared.exchange.enrolment.EnrolmentRefused` or ``requests.RequestException``.
    """
    key = site_key(key_dir, site)
    with frame_session(verify) as http:  # verify: the parent's TLS trust (parent_ca_file)
        granted, raw = enrol(parent_url, key, code, now=now, http=http)
    catalogue_version = None
    releases = sorted(
        (r for r in granted.releases if r.kind == CATALOGUE and r.effective_from <= now),
        key=lambda r: r.version,
    )
    if releases:
        newest = releases[-1]
        catalogue = catalogue_from_release(newest.content)  # checked before anything is kept
        write_private(data_dir / CATALOGUE_FILE, newest.content)
        catalogue_version = catalogue.version
    write_private(key_dir / HUB_KEY_FILE, granted.hub_public_raw)
    write_private(data_dir / GRANT_FILE, raw)
    return Enrolled(granted, catalogue_version)


def check_parent_url(url: str) -> str:
    """An ``http(s)://host[:port]`` URL without a trailing slash."""
    if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/.*)?$", url):
        raise InvalidInput("parent_url", "must be an http:// or https:// URL")
    return url.rstrip("/")
