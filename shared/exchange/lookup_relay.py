"""A status lookup passed up the tree, with the asking client named and vouched for.

A site that does not hold a case asks its parent (one request). The parent limits wrong
guesses per client; behind a child every client would share the child's address, so one
guesser at a village could use up the quota of everyone there. The child therefore names
its client (its own limiter key: an address, or ``<grandchild>/<address>`` for a lookup it
relays itself) in the ``X-Sanji-Relay`` header, signed with its site key over the pair asked
for and the time (:func:`sync_protocol.statements.lookup_statement`). The parent counts the
lookup against ``<child>/<client>`` when the signature is a child's own key, fresh, and over
this very pair; otherwise against the address the request came from, as for anyone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from shared.exchange.site import SyncSite
from shared.storage import sync_store as store
from shared.storage.failure_counts import MAX_ADDRESS_LENGTH
from sync_protocol import SiteKey
from sync_protocol.errors import ProtocolError
from sync_protocol.keys import verify
from sync_protocol.statements import lookup_statement
from sync_protocol.times import to_ms

HEADER = "X-Sanji-Relay"
MAX_CLIENT = 200
MAX_SKEW_MS = 5 * 60 * 1000
"""A relayed lookup older or newer than this (clocks disagree, or a replay) is not believed."""


def relay_header(key: SiteKey, client: str, acceptance_no: str, query_code: str,
                 now: datetime) -> str:
    """``site;client;at_ms;key_id;signature`` (hex) for the parent."""
    client = _clean(client)
    at_ms = to_ms(now)
    signature = key.sign(lookup_statement(key.site, client, acceptance_no, query_code, at_ms))
    return ";".join((key.site, client, str(at_ms), signature.key_id.hex(),
                     signature.value.hex()))


def relayed_client(session: Session, site: SyncSite, header: str | None, acceptance_no: str,
                   query_code: str, now: datetime) -> str | None:
    """``<child>/<client>`` (the client digested if that is longer than a failure record's
    address) when ``header`` is a child's signed relay of this lookup; None otherwise (no
    header, a stranger's, stale, or not over this pair)."""
    if not header or len(header) > 600:
        return None
    parts = header.split(";")
    if len(parts) != 5:
        return None
    child, client, at_text, key_hex, signature_hex = parts
    try:
        at_ms = int(at_text)
        key_id, signature = bytes.fromhex(key_hex), bytes.fromhex(signature_hex)
    except ValueError:
        return None
    if abs(to_ms(now) - at_ms) > MAX_SKEW_MS or client != _clean(client):
        return None
    ring = store.build_keyring(session, site.hub_site, site.hub_public_raw)
    if ring.parent_of(child) != site.code:
        return None
    try:
        record = ring.for_hop(key_id, site=child)
        verify(record.public, signature,
               lookup_statement(child, client, acceptance_no, query_code, at_ms),
               field="relay")
    except ProtocolError:
        return None
    key = f"{child}/{client}"
    if len(key) > MAX_ADDRESS_LENGTH:  # a long chain of relays: a digest stands for the client
        key = f"{child}/#{hashlib.blake2b(client.encode(), digest_size=12).hexdigest()}"
    return key


def _clean(client: str) -> str:
    """The client's name as it may travel: no separator, bounded."""
    return client.replace(";", ",")[:MAX_CLIENT]
