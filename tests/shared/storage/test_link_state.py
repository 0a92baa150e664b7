"""The link records as stored: what the parent reads survives a round trip, and a row written
before features were negotiated reads as a parent that reads none."""

from __future__ import annotations

import cbor2

from shared.storage.link_state import parent_link_bytes, parent_link_from
from sync_protocol import LinkPosition, ParentLink


def test_the_features_the_parent_reads_are_kept_and_old_rows_read_as_none() -> None:
    link = ParentLink(site="431002001201", parent="431002001", epoch=2, parent_epoch=3,
                      down_ack=LinkPosition(3, 41), clock_offset_ms=-120, batch_events=800,
                      introduced=True, parent_reads=(1, 2, 3))
    assert parent_link_from(parent_link_bytes(link)) == link
    old = cbor2.loads(parent_link_bytes(link))
    del old["parent_reads"]
    assert parent_link_from(cbor2.dumps(old, canonical=True)).parent_reads == ()
