"""The hub's receipts for this node's chain, kept whole: each case's proof of arrival.

A receipt is the hub's signed statement that it stored this node's chain ``(origin,
epoch)`` through ``through_seq`` at a time of its clock (:class:`sync_protocol.Receipt`).
The exchange verified its signature when it came down; keeping it whole lets the village
show, for each case, when the city received it and with which key it said so, and lets
``sanji audit verify`` check it again later. A receipt that covers no more than the one
before adds nothing and is not kept, so the receipt that proves an event's arrival is the
kept one with the smallest ``through_seq`` at or above the event's ``seq``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.models import NodeHubReceipt
from sync_protocol import Receipt
from sync_protocol.keys import Signature
from sync_protocol.times import from_ms, to_ms


def receipt_through(session: Session, origin: str, epoch: int) -> int:
    """How far the hub's receipts say it holds chain ``(origin, epoch)``."""
    held = session.scalar(select(func.max(NodeHubReceipt.through_seq)).where(
        NodeHubReceipt.origin == origin, NodeHubReceipt.epoch == epoch))
    return int(held or 0)


def keep(session: Session, receipt: Receipt) -> bool:
    """Keep ``receipt`` if it covers more than those held; whether it did."""
    if receipt_through(session, receipt.origin, receipt.epoch) >= receipt.through_seq:
        return False
    session.add(NodeHubReceipt(
        origin=receipt.origin, epoch=receipt.epoch, through_seq=receipt.through_seq,
        at_ms=to_ms(receipt.at), key_id=receipt.signature.key_id,
        signature=receipt.signature.value))
    session.flush()
    return True


def arrival_of(session: Session, origin: str, epoch: int, seq: int) -> Receipt | None:
    """The first receipt covering event ``(origin, epoch, seq)``: when the hub had it."""
    row = session.scalars(select(NodeHubReceipt).where(
        NodeHubReceipt.origin == origin, NodeHubReceipt.epoch == epoch,
        NodeHubReceipt.through_seq >= seq,
    ).order_by(NodeHubReceipt.through_seq).limit(1)).first()
    return None if row is None else as_receipt(row)


def all_receipts(session: Session) -> Iterator[NodeHubReceipt]:
    """Every kept receipt's row, in chain order (for the audit, which reads each with
    :func:`as_receipt` and names a damaged one)."""
    yield from session.scalars(select(NodeHubReceipt).order_by(
        NodeHubReceipt.origin, NodeHubReceipt.epoch, NodeHubReceipt.through_seq))


def as_receipt(row: NodeHubReceipt) -> Receipt:
    """The receipt a row keeps (``Malformed`` if its key id or signature lost bytes)."""
    return Receipt(row.origin, row.epoch, row.through_seq, from_ms(row.at_ms),
                   Signature(row.key_id, row.signature))
