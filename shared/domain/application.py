"""An application as every registering site checks it: the village agent's PC, a township's
or the city hall's front desk. Pure: no storage.

The acceptance number needs no coordination: the site code is unique in the tree and the
sequence is the site's own for that day (and epoch). The query code is random and is the
only secret a citizen holds; every tier stores only its hash, bound to the case id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.catalogue import Catalogue, ServiceItem
from shared.domain.errors import NotFound, Problems
from shared.domain.form_validation import form_json_values, validate_form
from shared.domain.identity import Applicant, validate_applicant
from shared.domain.working_days import local_date

DELIVERIES = ("village", "window", "courier")
QUERY_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
QUERY_CODE_LENGTH = 8
SEQUENCE_WIDTH = 4


def acceptance_number(site_code: str, at: datetime, epoch: int, seq: int) -> str:
    """``<site>-<YYYYMMDD>-<seq>`` in Asia/Shanghai; ``-E<n>`` before the sequence after a
    restore started epoch ``n`` > 1, so numbers issued before the backup are never reused."""
    day = local_date(at).strftime("%Y%m%d")
    epoch_part = f"E{epoch}-" if epoch > 1 else ""
    return f"{site_code}-{day}-{epoch_part}{seq:0{SEQUENCE_WIDTH}d}"


def new_query_code() -> str:
    """A random query code a citizen can read aloud without confusing characters."""
    return "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(QUERY_CODE_LENGTH))


def normalise_query_code(text: str) -> str:
    """Upper case without spaces or hyphens, as printed (``ABCD-EFGH`` -> ``ABCDEFGH``)."""
    return "".join(text.split()).replace("-", "").upper()


def query_code_hash(case_id: uuid.UUID, query_code: str) -> str:
    """SHA-256 of the case id and the code: the form every tier stores and compares."""
    data = case_id.bytes + normalise_query_code(query_code).encode("ascii", "replace")
    return hashlib.sha256(data).hexdigest()



def request_digest(body: Mapping[str, Any]) -> str:
    """A fingerprint of a submitted application, to notice an ``Idempotency-Key`` reused
    for a different one."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CheckedApplication:
    """An application whose every field passed: the item, the applicant and the form."""

    item: ServiceItem
    applicant: Applicant
    form: dict[str, str | int | bool]


def check_application(
    catalogue: Catalogue,
    item_code: str,
    applicant: Mapping[str, Any],
    form: Mapping[str, Any],
    delivery: str,
    now: datetime,
) -> tuple[CheckedApplication | None, dict[str, str]]:
    """The checked application, or the problems of every bad field (both listed at once)."""
    today = local_date(now)
    problems: dict[str, str] = {}
    item: ServiceItem | None = None
    try:
        item = catalogue.item(item_code)
    except NotFound:
        problems["item_code"] = f"no service item {item_code!r} in catalogue v{catalogue.version}"
    checked_applicant: Applicant | None = None
    try:
        checked_applicant = validate_applicant(applicant, today)
    except Problems as exc:
        problems.update(exc.fields)
    values: dict[str, str | int | bool] = {}
    if item is not None:
        try:
            values = form_json_values(validate_form(item.form, form, today=today))
        except Problems as exc:
            problems.update(exc.fields)
    if delivery not in DELIVERIES:
        problems["delivery"] = f"must be one of {', '.join(DELIVERIES)}"
    if problems or item is None or checked_applicant is None:
        return None, problems
    return CheckedApplication(item, checked_applicant, values), problems
