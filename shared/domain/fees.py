"""Fees under receipt control (以票控费): what a case owes by the catalogue's standard, and the
rules of the fee events.

When a window accepts a case, its fees are assessed from the item's fee items: a fixed
amount or a formula over the registration's form, in whole fen (never floats), each with
its legal basis. A window may waive or reduce a fee only where the catalogue marks it
``reducible``, with a written reason; nothing is ever assessed above the standard.
Payments (``fee_paid``) are recorded by the finance window against a numbered receipt;
a receipt may be voided (``receipt_voided``) and a fee refunded (``fee_refunded``), each
with a reason. A payment that takes what was paid above what was assessed is a fee charged
off the standard: the deciding site raises a red card with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from shared.domain.errors import InvalidInput, Problems

if TYPE_CHECKING:
    from shared.domain.catalogue import ServiceItem

MAX_FEN = 10**10
"""A bound on any one amount (a hundred million yuan): only stops a slip of the keyboard."""
RECEIPT_NO = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
MIN_REASON = 5


def formula_values(form: Mapping[str, Any]) -> dict[str, object]:
    """A registration's stored form values as a fee formula reads them (decimals were stored
    as strings to keep their exact value)."""
    values: dict[str, object] = {}
    for key, value in form.items():
        if isinstance(value, str):
            try:
                values[key] = Decimal(value)
            except InvalidOperation:
                values[key] = value
        else:
            values[key] = value
    return values


def assess(item: ServiceItem, form: Mapping[str, Any],
           reductions: Mapping[str, tuple[int, str]] | None = None) -> dict[str, Any] | None:
    """The ``fees_assessed`` payload of a case of ``item`` (None when the item has no fee
    items). ``reductions`` maps a fee code to the amount charged instead and the reason;
    :class:`Problems` names each reduction the catalogue does not allow."""
    if not item.fees:
        if reductions:
            raise Problems({"fees": "this item charges no fees"}, "nothing to reduce")
        return None
    wanted = dict(reductions or {})
    values = formula_values(form)
    problems: dict[str, str] = {}
    fees: list[dict[str, Any]] = []
    for fee in item.fees:
        try:
            standard = fee.amount(values)
        except InvalidInput as exc:
            problems[f"fees.{fee.code}"] = f"cannot be computed: {exc.reason}"
            continue
        line: dict[str, Any] = {"code": fee.code, "name": fee.name.zh, "basis": fee.basis,
                                "standard_fen": standard, "amount_fen": standard}
        if fee.code in wanted:
            amount, reason = wanted.pop(fee.code)
            if not fee.reducible:
                problems[f"fees.{fee.code}"] = "the catalogue allows no waiver or reduction"
            elif not 0 <= amount <= standard:
                problems[f"fees.{fee.code}"] = f"between 0 and the standard {standard} fen"
            elif len(reason.strip()) < MIN_REASON:
                problems[f"fees.{fee.code}.reason"] = "a clear written reason"
            elif amount != standard:
                line.update(amount_fen=amount, reason=reason.strip())
        fees.append(line)
    for code in wanted:
        problems[f"fees.{code}"] = "not a fee of this item"
    if problems:
        raise Problems(problems, "the fees cannot be assessed so")
    return {"fees": fees, "total_fen": sum(f["amount_fen"] for f in fees)}


def _fen(value: object, where: str, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_FEN:
        raise InvalidInput(where, f"whole fen from {low}")
    return value


def check_assessed(payload: Mapping[str, Any]) -> None:
    """The rule of ``fees_assessed``: each line's amount at most its standard, a reason on
    each reduced one, the total their sum."""
    lines = payload.get("fees")
    if not isinstance(lines, Sequence) or isinstance(lines, str) or not lines:
        raise InvalidInput("payload.fees", "the assessed fee lines")
    total = 0
    for i, line in enumerate(lines):
        if not isinstance(line, Mapping):
            raise InvalidInput(f"payload.fees[{i}]", "a fee line")
        for key in ("code", "basis"):
            if not isinstance(line.get(key), str) or not line[key].strip():
                raise InvalidInput(f"payload.fees[{i}].{key}", "required text")
        standard = _fen(line.get("standard_fen"), f"payload.fees[{i}].standard_fen")
        amount = _fen(line.get("amount_fen"), f"payload.fees[{i}].amount_fen")
        if amount > standard:
            raise InvalidInput(f"payload.fees[{i}].amount_fen", "never above the standard")
        if amount != standard and len(str(line.get("reason", "")).strip()) < MIN_REASON:
            raise InvalidInput(f"payload.fees[{i}].reason", "a reduction says why")
        total += amount
    if payload.get("total_fen") != total:
        raise InvalidInput("payload.total_fen", "the sum of the lines' amounts")


def check_receipt_no(value: object, where: str = "payload.receipt_no") -> str:
    if not isinstance(value, str) or not RECEIPT_NO.fullmatch(value):
        raise InvalidInput(where, "a receipt number: capitals, digits and dashes, up to 32")
    return value


def check_paid(payload: Mapping[str, Any]) -> None:
    check_receipt_no(payload.get("receipt_no"))
    _fen(payload.get("amount_fen"), "payload.amount_fen", low=1)
    if not isinstance(payload.get("window"), str) or not payload["window"]:
        raise InvalidInput("payload.window", "the finance window that took the payment")


def check_refunded(payload: Mapping[str, Any]) -> None:
    _fen(payload.get("amount_fen"), "payload.amount_fen", low=1)
    if not isinstance(payload.get("approver"), str) or not payload["approver"].strip():
        raise InvalidInput("payload.approver", "who approved the refund")
