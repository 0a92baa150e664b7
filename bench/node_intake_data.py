"""Valid, varied applicants and forms for the node benchmark (checksummed ID numbers)."""

from __future__ import annotations

from typing import Any

from shared.domain.identity import resident_id_check_char

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["建国", "秀英", "𠮷祥", "桂兰", "志强", "海燕", "德明", "玉梅", "卫东", "春花"]


def id_number(i: int) -> str:
    body = f"431002{1950 + i % 50}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + resident_id_check_char(body)


def applicant(i: int) -> dict[str, Any]:
    name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)]
    return {"name": name, "id_number": id_number(i), "phone": f"138{i % 100_000_000:08d}"}


def assistance_form(i: int) -> dict[str, Any]:
    return {
        "hardship_type": "emergency",
        "hardship_date": "2026-10-20",
        "amount_requested": f"{1000 + i % 2000}.00",
        "description": "家中房屋因暴雨受损,急需修缮资金。",
        "bank_account": f"62170012345{i % 100_000_000:08d}",
    }
