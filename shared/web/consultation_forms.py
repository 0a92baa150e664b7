"""The request bodies of recording a consultation or complaint (咨询投诉) and of answering
it, read the same at the hub and at every node: lengths and choices here, the person's name
and phone and the department by :mod:`shared.domain.consultations`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from shared.domain.consultations import CHANNELS, KINDS, TEXT_MAX


class RecordSchema(Schema):
    """A consultation or complaint as staff record it."""

    class Meta:
        unknown = RAISE

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    phone = fields.String(required=True, validate=validate.Length(min=1, max=20))
    text = fields.String(required=True, validate=validate.Length(min=1, max=TEXT_MAX))
    acceptance_no = fields.String(load_default=None, allow_none=True,
                                  validate=validate.Length(max=40))
    item_code = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(max=40))
    department = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(max=40))


class AnswerSchema(Schema):
    """A department's answer, at the hub and at a township's or county's own site (the form
    token and the button of a page's form are left out)."""

    class Meta:
        unknown = EXCLUDE

    answer = fields.String(required=True, validate=validate.Length(min=1, max=TEXT_MAX))


def blank_to_none(data: Mapping[str, Any]) -> dict[str, Any]:
    """A form's empty fields as absent ones."""
    return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}
