"""Enrolment of a new site: the request a node sends up and the grant the hub sends back.

``sanji node init --parent-url URL --enroll-code CODE`` makes the node's Ed25519 key
locally, and posts an :class:`~sync_protocol.EnrolmentRequest` (site, public key, time, and an
HMAC proof keyed by the one-time code — the code itself never travels) to its parent's
``POST /api/v1/enrol``. A township or county node relays the bytes to its own parent
unchanged, so the request reaches the hub through the same chain the site's traffic will
take. The hub checks the proof, marks the code used and answers with a grant, all in one
transaction: the site's certificate, the hub's public key (which the node pins), the site's
place in the tree, the releases in force (catalogue, calendar, revocations) and the
credentials of the site's users (password hashes only), so agents can log in offline.

The node pins the hub key it finds in the grant, so the grant must prove it comes from
whoever issued the code: beside the hub's signature it carries an HMAC keyed by the same
one-time code (:func:`check_grant_code`). Someone between the node and the hub who does not
know the code cannot answer with a grant of their own key, even over plain HTTP.

The grant is deterministic CBOR (the protocol's canonical encoding), capped in size before it
is decoded. Nothing here touches a database or the network: the hub and node glue do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.exchange.transport import HttpSession, Reply, post_bytes
from sync_protocol import (
    Certificate,
    CertificateInvalid,
    EnrolmentRequest,
    KeyRing,
    ProtocolError,
    Release,
    SiteKey,
    check_enrolment,
    enrolment_from_wire,
    enrolment_request,
    issue_certificate,
)
from sync_protocol.canonical import decode, encode
from sync_protocol.credentials import credential_from_wire
from sync_protocol.errors import Malformed
from sync_protocol.fields import as_bytes, as_int, as_list, as_str
from sync_protocol.keys import public_key, verify
from sync_protocol.releases import release_from_wire

ENROL_PATH = "/api/v1/enrol"
CONTENT_TYPE = "application/cbor"
MAX_REQUEST_BYTES = 4096
MAX_GRANT_BYTES = 16 << 20
GRANT_VERSION = 1
_GRANT_STATEMENT = b"sanji-enrolment-grant-v1\x00"
_GRANT_CODE_STATEMENT = b"sanji-enrolment-grant-code-v1\x00"


class EnrolmentRefused(Exception):
    """The hub (or a relay) refused the enrolment; ``code`` and ``message`` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class SiteFacts:
    """A site's place in the tree, as the hub registered it (``sanji hub add-site``)."""

    code: str
    name: str
    tier: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    """What an enrolled site receives once, and stores before it serves anyone."""

    certificate: Certificate
    hub_site: str
    hub_public_raw: bytes
    site: SiteFacts
    releases: tuple[Release, ...] = ()
    users: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    epoch: int = 1
    """The epoch the site's chain starts at: above every epoch the hub holds of the site, so
    a replaced PC never writes over the chain of the one it replaces."""

    def keyring(self) -> KeyRing:
        """A keyring pinning the hub key, holding this site's certificate."""
        ring = KeyRing(self.hub_site, self.hub_public_raw)
        ring.add(self.certificate)
        return ring


def request_bytes(key: SiteKey, code: str, now: datetime) -> bytes:
    """The body of ``POST /api/v1/enrol`` for ``key``'s site."""
    return encode(enrolment_request(key, code.strip(), now=now).to_wire())


def read_request(body: bytes) -> EnrolmentRequest:
    """Decode an enrolment request; :class:`~sync_protocol.Malformed` (or another
    ``ProtocolError``) for anything else."""
    if len(body) > MAX_REQUEST_BYTES:
        raise Malformed("enrolment", f"larger than {MAX_REQUEST_BYTES} bytes")
    return enrolment_from_wire(decode(body, field="enrolment", max_size=MAX_REQUEST_BYTES))


def grant(
    request: EnrolmentRequest,
    code: str,
    *,
    hub_key: SiteKey,
    site: SiteFacts,
    releases: Sequence[Release],
    users: Sequence[Mapping[str, Any]],
    now: datetime,
    epoch: int = 1,
) -> tuple[Grant, bytes]:
    """Check the request against the site's one-time ``code`` and issue the grant.

    Raises :class:`~sync_protocol.CertificateInvalid` when the proof does not match. The
    caller has already checked that ``code`` is the site's, unused and unexpired, and marks
    it used in the same transaction as it stores the site's new public key.
    """
    if request.site != site.code:
        raise Malformed("enrolment.site", "does not match the site of the code")
    check_enrolment(request, code)
    certificate = issue_certificate(
        hub_key,
        site=site.code,
        parent=site.parent,
        tier=site.tier,
        public_raw=request.public_raw,
        now=now,
    )
    issued = Grant(
        certificate, hub_key.site, hub_key.public_raw, site, tuple(releases), tuple(users),
        epoch,
    )
    body = _grant_body(issued)
    signature = hub_key.sign(_GRANT_STATEMENT + hashlib.sha256(body).digest())
    return issued, encode([body, signature.value, _code_mac(code, body)])


def _code_mac(code: str, body: bytes) -> bytes:
    return hmac.new(code.strip().encode(), _GRANT_CODE_STATEMENT + hashlib.sha256(body).digest(),
                    hashlib.sha256).digest()


def check_grant_code(data: bytes, code: str) -> None:
    """Raise ``ProtocolError`` unless the grant ``data`` was made by whoever holds ``code``.

    A grant stored by an earlier release has no such proof and still decodes
    (:func:`decode_grant`); a grant received at enrolment must carry it."""
    outer = as_list(decode(data, field="grant", max_size=MAX_GRANT_BYTES), "grant", max_len=3)
    if len(outer) != 3:
        raise CertificateInvalid("grant.code_proof",
                                 "the grant does not prove it was made for this enrolment code")
    body = as_bytes(outer[0], "grant.body", max_len=MAX_GRANT_BYTES)
    proof = as_bytes(outer[2], "grant.code_proof", size=32)
    if not hmac.compare_digest(proof, _code_mac(code, body)):
        raise CertificateInvalid("grant.code_proof", "was not made with this enrolment code")


def _grant_body(value: Grant) -> bytes:
    return encode(
        [
            GRANT_VERSION,
            value.certificate.to_wire(),
            value.hub_site,
            value.hub_public_raw,
            [value.site.code, value.site.name, value.site.tier, value.site.parent],
            [release.to_wire() for release in value.releases],
            [dict(user) for user in value.users],
            value.epoch,
        ]
    )


def decode_grant(data: bytes) -> Grant:
    """Decode a grant and check the hub's signature over all of it (a relay can neither
    add a user nor swap a release); any bad part is a ``ProtocolError``."""
    outer = as_list(decode(data, field="grant", max_size=MAX_GRANT_BYTES), "grant", max_len=3)
    if len(outer) not in (2, 3):
        raise Malformed("grant", "expected the body, the hub's signature and the code proof")
    body = as_bytes(outer[0], "grant.body", max_len=MAX_GRANT_BYTES)
    signature = as_bytes(outer[1], "grant.signature", size=64)
    items = as_list(decode(body, field="grant.body", max_size=MAX_GRANT_BYTES), "grant", max_len=8)
    if len(items) not in (7, 8) or items[0] != GRANT_VERSION:
        raise Malformed("grant", f"expected a version {GRANT_VERSION} grant of 7 or 8 elements")
    epoch = as_int(items[7], "grant.epoch") if len(items) == 8 else 1
    if epoch < 1:
        raise Malformed("grant.epoch", "epochs start at 1")
    certificate = credential_from_wire(items[1], "grant.certificate")
    if not isinstance(certificate, Certificate):
        raise Malformed("grant.certificate", "expected a certificate")
    facts = as_list(items[4], "grant.site", max_len=4)
    if len(facts) != 4:
        raise Malformed("grant.site", "expected 4 elements")
    parent = facts[3]
    site = SiteFacts(
        as_str(facts[0], "grant.site.code"),
        as_str(facts[1], "grant.site.name", max_len=200),
        as_str(facts[2], "grant.site.tier"),
        None if parent is None else as_str(parent, "grant.site.parent"),
    )
    releases = tuple(
        release_from_wire(r, f"grant.releases[{i}]")
        for i, r in enumerate(as_list(items[5], "grant.releases", max_len=100))
    )
    users: list[Mapping[str, Any]] = []
    for user in as_list(items[6], "grant.users", max_len=100_000):
        if not isinstance(user, dict):
            raise Malformed("grant.users", "expected maps")
        users.append(user)
    value = Grant(
        certificate,
        as_str(items[2], "grant.hub_site"),
        as_bytes(items[3], "grant.hub_public_key", size=32),
        site,
        releases,
        tuple(users),
        epoch,
    )
    verify(
        public_key(value.hub_public_raw),
        signature,
        _GRANT_STATEMENT + hashlib.sha256(body).digest(),
        field="grant.signature",
    )
    value.keyring()  # the certificate must be signed by the hub key the grant names
    if certificate.site != site.code:
        raise Malformed("grant.certificate", "issued for another site")
    return value


def enrol(
    parent_url: str,
    key: SiteKey,
    code: str,
    *,
    now: datetime,
    http: HttpSession | None = None,
    timeout: float = 60.0,
    pinned_hub_key: bytes | None = None,
) -> tuple[Grant, bytes]:
    """Enrol ``key``'s site through ``parent_url``; returns the grant and its bytes.

    Raises :class:`EnrolmentRefused` with the hub's error code when refused, and
    ``requests.RequestException`` when the parent cannot be reached. With
    ``pinned_hub_key`` (given at install), a grant signed by any other hub key is refused.
    """
    reply = post_bytes(parent_url.rstrip("/") + ENROL_PATH, request_bytes(key, code, now),
                       CONTENT_TYPE, timeout=timeout, http=http)
    if reply.status != 200:
        raise _refusal(reply)
    data = reply.data
    try:
        value = decode_grant(data)
        check_grant_code(data, code)
    except ProtocolError as exc:
        raise EnrolmentRefused(502, exc.code, f"the grant is not valid: {exc}") from exc
    if value.certificate.public_raw != key.public_raw or value.site.code != key.site:
        raise EnrolmentRefused(502, "wrong_address", "the grant was issued for another key")
    if pinned_hub_key is not None and value.hub_public_raw != pinned_hub_key:
        raise EnrolmentRefused(502, "key_unknown", "the grant is not from the pinned hub key")
    return value, data


def _refusal(reply: Reply) -> EnrolmentRefused:
    try:
        error = json.loads(reply.data)["error"]
        return EnrolmentRefused(reply.status, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return EnrolmentRefused(reply.status, "error",
                                reply.data[:200].decode("utf-8", "replace"))


def relay(
    parent_url: str, body: bytes, *, http: HttpSession | None = None, timeout: float = 60.0
) -> tuple[int, bytes, str]:
    """Forward an enrolment request unchanged to this site's parent (a township or county
    node relaying for a child); returns the parent's status, body and content type."""
    read_request(body)  # refuse garbage here rather than burden the links above
    reply = post_bytes(parent_url.rstrip("/") + ENROL_PATH, body, CONTENT_TYPE,
                       timeout=timeout, http=http)
    return reply.status, reply.data, reply.content_type
