"""The durable link records of :mod:`sync_protocol` as deterministic CBOR, in ``sync_state``.

A child persists its :class:`ParentLink` after every exchange and a parent one
:class:`ChildLink` per child; both are small (the link counters, one chain head per chain
below the child, at most 64 nonces), so each is stored as one row that the exchange reads
with a row lock and writes back in the same transaction.
"""

from __future__ import annotations

import cbor2
from sqlalchemy.orm import Session

from shared.storage.sync_store import read_state, write_state
from sync_protocol import ChainHead, ChildLink, LinkPosition, ParentLink
from sync_protocol.clock import NonceCache
from sync_protocol.releases import ledger_from_wire, ledger_to_wire

PARENT_LINK = "parent_link"


def child_key(child: str) -> str:
    return f"child:{child}"


def parent_link_bytes(link: ParentLink) -> bytes:
    return cbor2.dumps(
        {
            "site": link.site,
            "parent": link.parent,
            "epoch": link.epoch,
            "parent_epoch": link.parent_epoch,
            "down_ack": [link.down_ack.epoch, link.down_ack.seq],
            "clock_offset_ms": link.clock_offset_ms,
            "batch_events": link.batch_events,
            "introduced": link.introduced,
            "releases": ledger_to_wire(link.releases),
            "parent_reads": list(link.parent_reads),
        },
        canonical=True,
    )


def parent_link_from(data: bytes) -> ParentLink:
    raw = cbor2.loads(data)
    return ParentLink(
        site=raw["site"],
        parent=raw["parent"],
        epoch=int(raw["epoch"]),
        parent_epoch=int(raw["parent_epoch"]),
        down_ack=LinkPosition(int(raw["down_ack"][0]), int(raw["down_ack"][1])),
        clock_offset_ms=int(raw["clock_offset_ms"]),
        batch_events=int(raw["batch_events"]),
        introduced=bool(raw["introduced"]),
        releases=ledger_from_wire(raw["releases"]),
        # absent in rows written before features were negotiated: the parent reads none
        parent_reads=tuple(int(f) for f in raw.get("parent_reads", ())),
    )


def child_link_bytes(link: ChildLink) -> bytes:
    return cbor2.dumps(
        {
            "child": link.child,
            "heads": [[h.origin, h.epoch, h.seq, h.hash] for h in link.heads.values()],
            "nonces": [[n, t] for n, t in link.nonces.entries],
            "floor": link.nonces.floor_ms,
        },
        canonical=True,
    )


def child_link_from(data: bytes) -> ChildLink:
    raw = cbor2.loads(data)
    heads = {(o, int(e)): ChainHead(o, int(e), int(s), bytes(h)) for o, e, s, h in raw["heads"]}
    nonces = NonceCache(tuple((bytes(n), int(t)) for n, t in raw["nonces"]), int(raw["floor"]))
    return ChildLink(raw["child"], heads, nonces)


def load_parent_link(session: Session, *, site: str, parent: str, epoch: int,
                     lock: bool = False) -> ParentLink:
    data = read_state(session, PARENT_LINK, lock=lock)
    if data is None:
        return ParentLink(site=site, parent=parent, epoch=epoch)
    return parent_link_from(data)


def save_parent_link(session: Session, link: ParentLink) -> None:
    write_state(session, PARENT_LINK, parent_link_bytes(link))


def load_child_link(session: Session, child: str, *, lock: bool = False) -> ChildLink:
    data = read_state(session, child_key(child), lock=lock)
    return ChildLink(child) if data is None else child_link_from(data)


def save_child_link(session: Session, link: ChildLink) -> None:
    write_state(session, *child_link_record(link))


def child_link_record(link: ChildLink) -> tuple[str, bytes]:
    """The ``sync_state`` key and value that keep ``link`` (for a caller writing several)."""
    return child_key(link.child), child_link_bytes(link)
