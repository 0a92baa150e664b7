"""The peer records (``../shared/bench-data/peer-cases-*.jsonl``) as registrations of 临时救助
(``MZ-0305``) at a village, for ``bench/link.py``.

Each record keeps its applicant (name, ID number, phone) and its free text: the record's
description, address and remark go into the item's ``description`` field (the only free-text
field of the MZ-0305 form, 10-500 characters). The form's other required fields have no
counterpart in the records and are filled from the record's position, with little entropy:
``hardship_type`` (two values), ``hardship_date`` (the record's ``created`` day),
``amount_requested`` (20 values) and ``bank_account`` (a fixed prefix and the position).

The ID numbers' area codes are synthetic and 456 of the 1,010 begin with two digits that
are no province code, which the node refuses; those get the province code at the same
position in :data:`shared.domain.identity.PROVINCE_CODES` (first digit pair modulo the
table) and their check character recomputed: same length, same entropy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.domain.identity import PROVINCE_CODES, resident_id_check_char

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "bench-data"
FIRST = "peer-cases-1000.jsonl"
NEXT = "peer-cases-next-10.jsonl"
ITEM = "MZ-0305"


def records(name: str, data_dir: Path = DATA_DIR) -> list[dict[str, Any]]:
    path = data_dir / name
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def valid_id_number(id_number: str) -> str:
    """``id_number`` with a real province code and its check character."""
    if id_number[:2] in PROVINCE_CODES:
        return id_number
    provinces = sorted(PROVINCE_CODES)
    body = provinces[int(id_number[:2]) % len(provinces)] + id_number[2:17]
    return body + resident_id_check_char(body)


def registration(record: dict[str, Any], position: int) -> dict[str, Any]:
    """The body of ``POST /api/v1/cases`` for one peer record."""
    text = f"{record['description']}住址:{record['address']}。备注:{record['remark']}。"
    return {
        "item_code": ITEM,
        "applicant": {"name": record["applicant_name"],
                      "id_number": valid_id_number(record["id_number"]),
                      "phone": record["phone"]},
        "form": {
            "hardship_type": "emergency" if position % 2 == 0 else "expenditure",
            "hardship_date": record["created"][:10],
            "amount_requested": f"{500 + (position % 20) * 100}.00",
            "description": text[:500],
            "bank_account": f"6217001234{position:06d}",
        },
        "delivery": "village",
    }


def registrations(name: str, first_position: int = 0,
                  data_dir: Path = DATA_DIR) -> list[tuple[str, dict[str, Any]]]:
    """``(idempotency key, body)`` for every record of the file ``name``."""
    return [(f"link-{record['id']}", registration(record, first_position + i))
            for i, record in enumerate(records(name, data_dir))]
