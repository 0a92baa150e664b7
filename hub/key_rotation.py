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

from sqlalchemy.orm import Session, sessionmaker

from hub.identity import HUB_KEY_FILE
from hub.settings import HubSettings
from shared.exchange.key_rotation import Rotated, record_rotation, rotate_key_file


def rotate_hub_key(settings: HubSettings, factory: sessionmaker[Session],
                   now: datetime) -> Rotated:
    """Rotate the hub's key and keep the chain with the hub's credentials."""
    rotated = rotate_key_file(settings.key_dir / HUB_KEY_FILE, settings.site_code, now,
                              vouch_back=True)
    with factory() as session:
        record_rotation(session, rotated.added, forward=False)
        session.commit()
    return rotated
