"""How long the hub keeps each kind of record holding personal information (PIPL art. 19:
no longer than the purpose needs, unless a law sets a period), and when a closed case's
period ends.

The defaults and their basis are written in docs/security.md ("Personal information"); the
city centre's archive office may set others in ``retention.json`` in the hub's data
directory (checked when it is loaded, :mod:`hub.privacy.retention_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sync_protocol.payload_digest import erased

DAYS_PER_YEAR = 365

DEFAULT_CASE_YEARS: Mapping[str, int] = MappingProxyType({
    "approved": 30,
    "rejected": 10,
    "withdrawn": 3,
})
"""Case files by outcome: an approval stays a right the holder relies on (30 years, the
"定期30年" period of 《机关文件材料归档范围和文书档案保管期限规定》 for licensing files); a
refusal may be challenged (10 years); a withdrawal decides nothing (3 years)."""

MIN_AUDIT_DAYS = 180
"""网络安全法 art. 21: logs of a network's operation are kept at least six months."""

ONLINE_DRAFT_DAYS = 30
"""An online application's draft left untouched this long is abandoned: it goes (its
answers name the applicant)."""
ONLINE_ACCOUNT_DAYS = 2 * DAYS_PER_YEAR
"""An online account with no case open and no sign-in this long serves no application:
its phone and identity go (signing up again takes a minute)."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The periods in force. ``item_years`` overrides the case file's period for an item
    (its code) whatever the outcome; scans follow their case unless ``scan_years`` is set."""

    case_years: Mapping[str, int] = field(default_factory=lambda: DEFAULT_CASE_YEARS)
    item_years: Mapping[str, int] = field(default_factory=dict)
    scan_years: int | None = None
    audit_log_days: int = 3 * DAYS_PER_YEAR
    archive_after_days: int = 90
    online_draft_days: int = ONLINE_DRAFT_DAYS
    online_account_days: int = ONLINE_ACCOUNT_DAYS

    def case_period(self, item_code: str, outcome: str) -> timedelta:
        """How long a case of ``item_code`` closed with ``outcome`` is kept."""
        years = self.item_years.get(item_code)
        if years is None:
            years = self.case_years.get(outcome, max(self.case_years.values()))
        return timedelta(days=years * DAYS_PER_YEAR)

    def case_kept_until(self, item_code: str, outcome: str | None,
                        closed_at: datetime | None) -> datetime | None:
        """When a case's personal data may be erased; None while it is open."""
        if closed_at is None or outcome is None:
            return None
        return closed_at + self.case_period(item_code, outcome)

    def scans_kept_until(self, item_code: str, outcome: str | None,
                         closed_at: datetime | None) -> datetime | None:
        """When a case's scans may be erased (never after the case itself)."""
        case_end = self.case_kept_until(item_code, outcome, closed_at)
        if case_end is None or closed_at is None or self.scan_years is None:
            return case_end
        return min(case_end, closed_at + timedelta(days=self.scan_years * DAYS_PER_YEAR))

    def archive_due(self, closed_at: datetime | None, now: datetime) -> bool:
        """Whether a case closed at ``closed_at`` is old enough to be archived."""
        return closed_at is not None and now - closed_at >= timedelta(
            days=self.archive_after_days)


# -- what an erased case keeps ----------------------------------------------------------------

KEPT_AT_REGISTRATION = frozenset({"case_id", "acceptance_no", "item_code", "catalogue_version",
                                  "kind", "window", "delivery"})
"""What a registration keeps once erased: the acceptance number, the item and how the case
was handled (the dates, actors and outcome are in the events' headers and other events)."""

PERSONAL_KEYS = frozenset({"applicant", "form", "comment", "note", "notes", "recipient",
                           "collector", "proxy", "name", "id_number", "phone", "address",
                           "receiver_name", "tracking_no"})
"""Keys of any other event's payload that may hold personal data: dropped when erased (a
written ``reason``, which the event's rules require, is replaced by :data:`ERASED_REASON`)."""

ERASED_REASON = "personal data erased at the end of the retention period"


def erased_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with its personal data removed, still valid for its event type (so the
    case folds as before: same states, dates and outcome). Scans keep their code only. The
    result carries the digests of what it removed (:func:`sync_protocol.payload_digest.erased`),
    so the event keeps its hash and signature and its kept values stay checkable."""
    if event_type == "registered":
        kept = {k: v for k, v in payload.items() if k in KEPT_AT_REGISTRATION}
        kept["materials"] = [{"code": m.get("code")} for m in payload.get("materials", [])
                             if isinstance(m, Mapping)]
    else:
        kept = {k: v for k, v in payload.items()
                if k not in PERSONAL_KEYS and k not in ("sha256", "materials")}
    if event_type == "registration_corrected":
        changes = payload.get("changes")
        kept["changes"] = {str(k): "erased" for k in (changes if isinstance(changes, Mapping)
                                                      else {"fields": None})}
    if event_type != "erased" and isinstance(payload.get("reason"), str):
        # a written reason (a refusal's, an urge's, an appeal's) is free text that may name
        # the applicant; the event keeps its type, rule and outcome, which is what counts
        kept["reason"] = ERASED_REASON
    if event_type == "rated" and "comment" in payload:
        kept["comment"] = ""
    if event_type in ("consultation_recorded", "consultation_answered"):
        # 咨询投诉: the words asked and answered are free text about a person; the kind,
        # channel, department and the answer's reference stay for the figures
        kept.pop("text", None)
        kept.pop("answer", None)
    return erased(payload, kept)
