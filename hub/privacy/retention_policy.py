"""The retention policy in force at the hub: ``retention.json`` in its data directory, or
the defaults of :mod:`shared.domain.retention` when there is none.

It is a file of the hub's own and not part of the catalogue: the catalogue is published to
every site, while retention is decided once, by the city centre as the controller of the
data, and reaches the other sites only as the erasures the hub records. The file is checked
in full when it is read; every problem is reported at once, named by its field, and nothing
is applied from a file that has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.domain.errors import Problems
from shared.domain.retention import (
    DEFAULT_CASE_YEARS,
    MIN_AUDIT_DAYS,
    ONLINE_ACCOUNT_DAYS,
    ONLINE_DRAFT_DAYS,
    RetentionPolicy,
)
from shared.web.error_responses import flatten_messages

POLICY_FILE = "retention.json"
OUTCOMES = ("approved", "rejected", "withdrawn")
_YEARS = validate.Range(min=1, max=100)


class RetentionSchema(Schema):
    """``retention.json``: every key optional; a missing one keeps its default."""

    class Meta:
        unknown = RAISE

    case_years = fields.Dict(keys=fields.String(validate=validate.OneOf(OUTCOMES)),
                             values=fields.Integer(strict=True, validate=_YEARS))
    item_years = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=40)),
                             values=fields.Integer(strict=True, validate=_YEARS))
    scan_years = fields.Integer(strict=True, allow_none=True, validate=_YEARS)
    audit_log_days = fields.Integer(strict=True,
                                    validate=validate.Range(min=MIN_AUDIT_DAYS, max=36500))
    archive_after_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=3650))
    # the online hall (网上服务大厅): abandoned drafts, and accounts no longer used
    online_draft_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=3650))
    online_account_days = fields.Integer(strict=True,
                                         validate=validate.Range(min=30, max=36500))

    @validates_schema
    def _every_outcome(self, data: dict[str, Any], **_: Any) -> None:
        years = data.get("case_years")
        if years is not None and set(years) != set(OUTCOMES):
            raise ValidationError(f"give all of {', '.join(OUTCOMES)}", "case_years")


def policy_from(data: object) -> RetentionPolicy:
    """The policy ``data`` describes; :class:`Problems` naming each bad field otherwise."""
    if not isinstance(data, dict):
        raise Problems({"retention": "must be a JSON object"}, "invalid retention policy")
    try:
        loaded = RetentionSchema().load(data)
    except ValidationError as exc:
        raise Problems(flatten_messages(exc.messages), "invalid retention policy") from None
    return RetentionPolicy(
        case_years=loaded.get("case_years", DEFAULT_CASE_YEARS),
        item_years=loaded.get("item_years", {}),
        scan_years=loaded.get("scan_years"),
        audit_log_days=loaded.get("audit_log_days", 3 * 365),
        archive_after_days=loaded.get("archive_after_days", 90),
        online_draft_days=loaded.get("online_draft_days", ONLINE_DRAFT_DAYS),
        online_account_days=loaded.get("online_account_days", ONLINE_ACCOUNT_DAYS),
    )


def load_policy(data_dir: Path) -> RetentionPolicy:
    """The policy of the hub in ``data_dir`` (the defaults when it has no file)."""
    path = data_dir / POLICY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return RetentionPolicy()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Problems({"retention": f"{path} is not JSON: {exc.msg} (line {exc.lineno})"},
                       "invalid retention policy") from None
    return policy_from(data)
