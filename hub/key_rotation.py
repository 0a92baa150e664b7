"""What ``sanji hub rotate-key`` does: a new hub key, signed by the old, TUF-style.

Two credentials come of it (:mod:`shared.exchange.key_rotation`): the rotation, signed by
the old key, and a certificate of the old key signed by the new one. Both are kept in the
chain file beside the key and in the hub's credentials, so that

- the hub's own keyring, pinned on whatever key it signs with now, still believes every
  certificate an earlier key issued;
- every answer the hub (and each relay) sends with items or releases of the hub, and every
  complete answer, carries the hub's chain: a site that was offline for months follows it
  from the key it pinned to today's, and a site enrolled later checks what earlier keys
  signed.

Nothing is re-signed: certificates, releases, receipts and events signed by an earlier key
stay valid. From a site's adoption of the rotation on, it refuses an exchange the old key
signs.
"""

from __future__ import annotations

from datetime import datetime

import cbor2
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.identity import HUB_KEY_FILE
from hub.settings import HubSettings
from shared.exchange.key_rotation import Rotated, record_rotation, rotate_key_file
from shared.storage import sync_store as store
from sync_protocol import KeyRotation
from sync_protocol.credentials import credential_from_wire


def rotate_hub_key(settings: HubSettings, factory: sessionmaker[Session],
                   now: datetime) -> Rotated:
    """Rotate the hub's key and keep the chain with the hub's credentials."""
    rotated = rotate_key_file(settings.key_dir / HUB_KEY_FILE, settings.site_code, now,
                              vouch_back=True)
    with factory() as session:
        record_rotation(session, rotated.added, forward=False)
        session.commit()
    return rotated


def keys_since(session: Session, site: str, first: bytes) -> list[bytes]:
    """``first`` and every key of ``site`` it handed over to since, by the rotations the hub
    holds (what a re-enrolment revokes: the key the site enrolled with may have rotated)."""
    wires = session.scalars(select(store.SyncCredential.wire)
                            .where(store.SyncCredential.site == site)
                            .order_by(store.SyncCredential.id))
    rotations = [c for c in (credential_from_wire(cbor2.loads(w)) for w in wires)
                 if isinstance(c, KeyRotation)]
    keys = [first]
    for _ in range(len(rotations)):
        following = next((r.new_key_id for r in rotations
                          if r.old_key_id == keys[-1] and r.new_key_id not in keys), None)
        if following is None:
            break
        keys.append(following)
    return keys
