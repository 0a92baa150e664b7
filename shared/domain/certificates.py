"""The certificate store's rules (证照库, docs/certificates.md), pure: what a case's log
gives a person to hold, how long each holding stays valid, and whether a later case's
reference to one may be trusted.

A person holds a material in two ways: a copy *received* with a case (the scan's SHA-256,
valid ``valid_days`` from the registration, or with no end for a ``certificate_held``
material), and a certificate *issued* by an approved case whose item ``issues`` one (the
result document's verification code, valid ``valid_years`` from the decision date). The
holder is the applicant's resident ID number, or a company applicant's legal
representative's (a proxy holds nothing of the applicant's). The store keeps only the
number's keyed blind index; this module never sees one.

A holding's reference is a digest of the case, the material and the content digest:
opaque to the agent, the same wherever and whenever it is worked out, so the store can be
rebuilt from the logs (after the data key is rotated) without changing any reference a
registration already carries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from shared.domain.case_events import CaseEvent, EventType
from shared.domain.case_state import Outcome, fold
from shared.domain.catalogue import Catalogue, ServiceItem
from shared.domain.errors import NotFound
from shared.domain.working_days import SHANGHAI

RECEIVED, ISSUED = "received", "issued"
REF_LENGTH = 32
MAX_REUSE = 20
"""At most this many materials reused by one registration (an item lists fewer)."""
REF_PATTERN = re.compile(r"[0-9a-f]{32}")

# why a reused material was not trusted at the hub (the window asks for it on paper)
UNKNOWN_REF = "unknown"
OTHER_HOLDER = "other_holder"
EXPIRED = "expired"
NOT_ASKED = "not_asked"
UNTRUSTED_REASONS = (UNKNOWN_REF, OTHER_HOLDER, EXPIRED, NOT_ASKED)


@dataclass(frozen=True, slots=True)
class Holding:
    """One material a person holds, as a case's log gives it."""

    id_number: str
    material_code: str
    case_id: str
    source: str
    digest: str
    valid_until_ms: int | None
    recorded_ms: int

    @property
    def ref(self) -> str:
        return holding_ref(self.case_id, self.material_code, self.digest)


@dataclass(frozen=True, slots=True)
class Reuse:
    """A material a registration took from the store by reference instead of a scan."""

    material_code: str
    ref: str


def holding_ref(case_id: str, material_code: str, digest: str) -> str:
    """The opaque, stable reference of a holding (32 hex characters)."""
    text = f"sanji/certificate/1|{case_id}|{material_code}|{digest}"
    return hashlib.sha256(text.encode()).hexdigest()[:REF_LENGTH]


def holder_number(applicant: object) -> str | None:
    """Whose the case's materials and certificates are: the applicant's ID number, else a
    company applicant's legal representative's; normalised (no spaces, upper-case X)."""
    if not isinstance(applicant, Mapping):
        return None
    for person in (applicant, applicant.get("legal_representative")):
        if isinstance(person, Mapping):
            number = person.get("id_number")
            if isinstance(number, str) and number.strip():
                return "".join(number.split()).upper()
    return None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _day_start_ms(day: date) -> int:
    return _ms(datetime.combine(day, time(0), SHANGHAI))


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def _item(catalogue: Catalogue, code: object) -> ServiceItem | None:
    try:
        return catalogue.item(str(code))
    except NotFound:
        return None


def _received(holder: str, item: ServiceItem, case_id: str, at: datetime,
              entries: Iterable[object]) -> list[Holding]:
    found = []
    for entry in entries:
        if not isinstance(entry, Mapping) or "reused" in entry:
            continue  # a reference is not a copy received
        code, digest = entry.get("code"), entry.get("sha256")
        material = item.material(str(code))
        if material is None or not material.reusable or not isinstance(digest, str):
            continue
        until = (None if material.valid_days is None else
                 _day_start_ms(at.astimezone(SHANGHAI).date()
                               + timedelta(days=material.valid_days + 1)))
        found.append(Holding(holder, material.code, case_id, RECEIVED, digest, until, _ms(at)))
    return found


def holdings_of(events: Sequence[CaseEvent], catalogue: Catalogue) -> list[Holding]:
    """Everything the case's log gives its holder to hold (nothing without a holder)."""
    if not events or events[0].type is not EventType.REGISTERED:
        return []
    registration = events[0].payload
    holder = holder_number(registration.get("applicant"))
    item = _item(catalogue, registration.get("item_code"))
    if holder is None or item is None:
        return []
    case_id = events[0].case_id
    found = _received(holder, item, case_id, events[0].at, registration.get("materials") or ())
    for event in events[1:]:
        if event.type is EventType.MATERIAL_ADDED:
            found += _received(holder, item, case_id, event.at, [event.payload])
    issued = [e for e in events if e.type is EventType.RESULT_ISSUED]
    if item.issues is not None and issued:
        state = fold(events)
        code = issued[-1].payload.get("verification_code")
        if state.outcome is Outcome.APPROVED and state.decided_at is not None \
                and isinstance(code, str):
            decided = state.decided_at.astimezone(SHANGHAI).date()
            # valid through the day before the anniversary of the decision
            until = _day_start_ms(_years_after(decided, item.issues.valid_years))
            found.append(Holding(holder, item.issues.material, case_id, ISSUED, code, until,
                                 _ms(issued[-1].at)))
    return found


def reuses_of(registration: Mapping[str, Any]) -> list[Reuse]:
    """The materials a ``registered`` payload took from the store."""
    found = []
    for entry in registration.get("materials") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("reused"), Mapping):
            ref = entry["reused"].get("ref")
            code = entry.get("code")
            if isinstance(ref, str) and isinstance(code, str):
                found.append(Reuse(code, ref))
    return found


def untrusted_reason(reuse: Reuse, item: ServiceItem | None, holding_material: str | None,
                     holder_matches: bool, valid_until_ms: int | None, at_ms: int
                     ) -> str | None:
    """Why a reuse may not stand for the material (None: it may). ``holding_material`` is
    the material of the holding the reference names (None: no such holding)."""
    if item is None or item.material(reuse.material_code) is None:
        return NOT_ASKED
    if holding_material is None:
        return UNKNOWN_REF
    if holding_material != reuse.material_code:
        return UNKNOWN_REF  # the reference names another material
    if not holder_matches:
        return OTHER_HOLDER
    if valid_until_ms is not None and valid_until_ms <= at_ms:
        return EXPIRED
    return None


def is_valid(valid_until_ms: int | None, at_ms: int) -> bool:
    """Whether a holding may still be used at ``at_ms``."""
    return valid_until_ms is None or valid_until_ms > at_ms


def check_reuse(item: ServiceItem, entries: Sequence[Mapping[str, Any]], consent: bool,
                uploaded: Iterable[str] = ()) -> tuple[list[Reuse], dict[str, str]]:
    """The materials an application takes from the store, or the problems of each bad
    entry (keyed ``reuse.<n>.<field>``; ``reuse_consent`` when the applicant's consent is
    not recorded). A material also uploaded is a problem: one or the other stands for it."""
    problems: dict[str, str] = {}
    found: list[Reuse] = []
    scanned = set(uploaded)
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        code, ref = str(entry.get("material_code", "")), str(entry.get("ref", ""))
        if item.material(code) is None:
            problems[f"reuse.{index}.material_code"] = f"not a material of {item.code}"
        elif code in seen:
            problems[f"reuse.{index}.material_code"] = f"{code} is listed twice"
        elif code in scanned:
            problems[f"reuse.{index}.material_code"] = (
                f"{code} is also uploaded: send the scan or the reference, not both")
        if not REF_PATTERN.fullmatch(ref):
            problems[f"reuse.{index}.ref"] = "a reference the certificate store gave"
        seen.add(code)
        found.append(Reuse(code, ref))
    if found and not consent:
        problems["reuse_consent"] = ("the applicant's consent to reuse materials from the "
                                     "certificate store is required")
    return found, problems


def reuse_entries(reuses: Sequence[Reuse]) -> list[dict[str, Any]]:
    """The ``materials`` entries of a ``registered`` payload for reused materials (after
    the scans, so a scan's place in the list stays what the scan links name)."""
    return [{"code": r.material_code, "reused": {"ref": r.ref}} for r in reuses]


def consent_record(reuses: Sequence[Reuse], actor: str, at: datetime) -> dict[str, Any]:
    """The ``reuse_consent`` of a ``registered`` payload: who recorded the applicant's
    consent, when, and for which materials."""
    return {"given": True, "recorded_by": actor, "at": at.isoformat(),
            "materials": [r.material_code for r in reuses]}
