"""An application as every registering site checks it: the village agent's PC, a township's
or the city hall's front desk. Pure: no storage.

The acceptance number needs no coordination: the site code is unique in the tree and the
sequence is the site's own for that day (and epoch). The query code is random and is the
only secret a citizen holds; every tier stores only its verifier, bound to the case id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2.low_level import Type, hash_secret_raw

from shared.domain.catalogue import Catalogue, Composite, FormDefinition, ServiceItem
from shared.domain.composites import one_form, part_items
from shared.domain.errors import NotFound, Problems
from shared.domain.form_validation import form_json_values, validate_form
from shared.domain.identity import Applicant, validate_applicant
from shared.domain.working_days import local_date

DELIVERIES = ("village", "window", "courier")
QUERY_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
QUERY_CODE_LENGTH = 8
SEQUENCE_WIDTH = 4
QUERY_VERIFIER_BYTES = 6
"""48 bits: a little above the code's own entropy (31^8, about 2^39.6), so only the true code
matches, and no more bytes on the wire than that buys."""
_QUERY_SALT = b"sanji/query/1"
_QUERY_MEMORY_KIB = 4 * 1024
_QUERY_PASSES = 2


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
    """SHA-256 of the case id and the code: the form cases registered before the
    verifier carry (``query_code_sha256``); kept so their codes still open them."""
    data = case_id.bytes + normalise_query_code(query_code).encode("ascii", "replace")
    return hashlib.sha256(data).hexdigest()


def query_verifier(case_id: uuid.UUID, query_code: str) -> int:
    """What every tier stores and compares instead of the code: Argon2id (4 MiB, two
    passes) of the code salted with the case id, cut to 48 bits.

    A copied database then costs about 4 ms of memory-hard work per guess and case (some
    100 CPU-years to try every code of one case), where SHA-256 cost nanoseconds; intake
    pays it once per case; 6 bytes
    travel up with each registration instead of 32. 4 MiB rather than more: each server
    thread's allocator keeps the largest block it hashed with, and 16 MiB grew an idle
    village node by some 60 MB."""
    raw = hash_secret_raw(normalise_query_code(query_code).encode("ascii", "replace"),
                          _QUERY_SALT + case_id.bytes, time_cost=_QUERY_PASSES,
                          memory_cost=_QUERY_MEMORY_KIB, parallelism=1,
                          hash_len=QUERY_VERIFIER_BYTES, type=Type.ID)
    return int.from_bytes(raw, "big")


def stored_query_check(case_id: uuid.UUID, query_code: str) -> str:
    """The text a site keeps for a new case's code: the verifier as 12 hex digits."""
    return f"{query_verifier(case_id, query_code):0{2 * QUERY_VERIFIER_BYTES}x}"


def query_code_opens(case_id: uuid.UUID, query_code: str, stored: str) -> bool:
    """Whether ``query_code`` is the case's, against what a site stored: the verifier's 12
    hex digits, or the 64 of an older case's SHA-256. Constant-time comparison."""
    if len(stored) == 2 * QUERY_VERIFIER_BYTES:
        return hmac.compare_digest(stored, stored_query_check(case_id, query_code))
    return hmac.compare_digest(stored, query_code_hash(case_id, query_code))


def registered_query_check(payload: Mapping[str, Any]) -> str | None:
    """The stored form of the query check a ``registered`` payload carries: the verifier
    (``query_verifier``, an integer) or an older case's ``query_code_sha256``."""
    verifier = payload.get("query_verifier")
    if isinstance(verifier, int) and not isinstance(verifier, bool) \
            and 0 <= verifier < 1 << (8 * QUERY_VERIFIER_BYTES):
        return f"{verifier:0{2 * QUERY_VERIFIER_BYTES}x}"
    legacy = payload.get("query_code_sha256")
    return legacy if isinstance(legacy, str) and len(legacy) == 64 else None


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


def _check_filled(form_definition: FormDefinition | None, applicant: Mapping[str, Any],
                  form: Mapping[str, Any], delivery: str, now: datetime,
                  problems: dict[str, str]
                  ) -> tuple[Applicant | None, dict[str, str | int | bool]]:
    """The applicant and the form's values, with every bad field added to ``problems``
    (the form is not checked while ``form_definition`` is unknown)."""
    today = local_date(now)
    checked_applicant: Applicant | None = None
    try:
        checked_applicant = validate_applicant(applicant, today)
    except Problems as exc:
        problems.update(exc.fields)
    values: dict[str, str | int | bool] = {}
    if form_definition is not None:
        try:
            values = form_json_values(validate_form(form_definition, form, today=today))
        except Problems as exc:
            problems.update(exc.fields)
    if delivery not in DELIVERIES:
        problems["delivery"] = f"must be one of {', '.join(DELIVERIES)}"
    return checked_applicant, values


def check_application(
    catalogue: Catalogue,
    item_code: str,
    applicant: Mapping[str, Any],
    form: Mapping[str, Any],
    delivery: str,
    now: datetime,
) -> tuple[CheckedApplication | None, dict[str, str]]:
    """The checked application, or the problems of every bad field (both listed at once)."""
    problems: dict[str, str] = {}
    item: ServiceItem | None = None
    try:
        item = catalogue.item(item_code)
    except NotFound:
        problems["item_code"] = f"no service item {item_code!r} in catalogue v{catalogue.version}"
    checked_applicant, values = _check_filled(item.form if item else None, applicant, form,
                                              delivery, now, problems)
    if problems or item is None or checked_applicant is None:
        return None, problems
    return CheckedApplication(item, checked_applicant, values), problems


@dataclass(frozen=True, slots=True)
class CheckedOneForm:
    """A one-form application (一表制) that passed, split into its parts' applications."""

    composite: Composite
    form: dict[str, str | int | bool]
    parts: tuple[CheckedApplication, ...]


def check_one_form(
    catalogue: Catalogue,
    composite_code: str,
    applicant: Mapping[str, Any],
    form: Mapping[str, Any],
    delivery: str,
    now: datetime,
) -> tuple[CheckedOneForm | None, dict[str, str]]:
    """The checked one form and each part's share of it, or every problem at once.

    The one form is checked as a whole (:func:`~shared.domain.composites.one_form`); each
    part then gets the answers its own form asks, so every part's case reads as if it had
    been applied for alone.
    """
    problems: dict[str, str] = {}
    composite: Composite | None = None
    try:
        composite = catalogue.composite(composite_code)
    except NotFound as exc:
        problems["composite"] = exc.reason
    merged = one_form(catalogue, composite) if composite is not None else None
    checked_applicant, values = _check_filled(merged, applicant, form, delivery, now, problems)
    if problems or composite is None or checked_applicant is None:
        return None, problems
    parts = tuple(
        CheckedApplication(item, checked_applicant,
                           {k: v for k, v in values.items() if item.form.field(k) is not None})
        for item in part_items(catalogue, composite))
    return CheckedOneForm(composite, values, parts), problems
