"""marshmallow schemas (marshmallow 4), one per shape the node's API reads.

They check the envelope — types, required keys, lengths, allowed values, unknown keys —
before the domain validators in ``shared`` check identities and forms field by field.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from shared.domain.application import DELIVERIES
from shared.domain.delivery import CARRIERS, HANDOVER_METHODS
from shared.domain.rating import RATINGS
from shared.web.certificate_lookup import consent_field, reuse_field

IDEMPOTENCY_KEY = validate.Regexp(r"^[\x21-\x7e]{1,100}$", error="1-100 printable ASCII characters")


class CaseCreateSchema(Schema):
    """``POST /api/v1/cases``."""

    class Meta:
        unknown = RAISE

    item_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    applicant = fields.Dict(keys=fields.String(), required=True)
    form = fields.Dict(keys=fields.String(), load_default=dict)
    delivery = fields.String(load_default="village", validate=validate.OneOf(DELIVERIES))
    # materials taken from the certificate store by reference (证照库), with consent
    reuse = reuse_field()
    reuse_consent = consent_field()
    # 全城通办: a station of the competent area, where the applicant collects the result
    handover_station = fields.String(load_default=None, allow_none=True,
                                     validate=validate.Length(max=12))


class OneFormCreateSchema(Schema):
    """``POST /api/v1/bundles``: a one-form application (一表制)."""

    class Meta:
        unknown = RAISE

    composite = fields.String(required=True, validate=validate.Length(min=1, max=16))
    applicant = fields.Dict(keys=fields.String(), required=True)
    form = fields.Dict(keys=fields.String(), load_default=dict)
    delivery = fields.String(load_default="village", validate=validate.OneOf(DELIVERIES))


class IdempotencyHeaderSchema(Schema):
    """The ``Idempotency-Key`` header of ``POST /api/v1/cases`` (required)."""

    class Meta:
        unknown = RAISE

    key = fields.String(required=True, data_key="Idempotency-Key", validate=IDEMPOTENCY_KEY)


class MaterialUploadSchema(Schema):
    """The text part of ``POST /api/v1/cases/<id>/materials`` (the file comes as ``file``)."""

    class Meta:
        unknown = RAISE

    material_code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class CatalogueQuerySchema(Schema):
    """``GET /api/v1/catalog/items``: optional search text and language."""

    class Meta:
        unknown = RAISE

    q = fields.String(load_default="", validate=validate.Length(max=50))
    lang = fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")))


class HandoverSchema(Schema):
    """The hand-over form of the case page."""

    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf(HANDOVER_METHODS))
    receiver_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    # a courier hand-over (快递送达): what the form sends, checked with the event's rules
    carrier = fields.String(load_default="", validate=validate.OneOf(("", *CARRIERS)))
    tracking_no = fields.String(load_default="", validate=validate.Length(max=30))
    address = fields.String(load_default="", validate=validate.Length(max=120))


class RatingSchema(Schema):
    """The satisfaction form of the case page."""

    class Meta:
        unknown = RAISE

    rating = fields.String(required=True, validate=validate.OneOf(RATINGS))
    comment = fields.String(load_default="", validate=validate.Length(max=500))
    # the second-level indicators a station scores, each 1-5 or left blank
    efficiency = fields.Integer(load_default=None, allow_none=True,
                                validate=validate.Range(min=1, max=5))
    attitude = fields.Integer(load_default=None, allow_none=True,
                              validate=validate.Range(min=1, max=5))
    service_level = fields.Integer(load_default=None, allow_none=True,
                                   validate=validate.Range(min=1, max=5))


class TransferSchema(Schema):
    """The hand-over list form: which cases' originals go where."""

    class Meta:
        unknown = RAISE

    case_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=200))
    destination = fields.String(required=True, validate=validate.Length(min=1, max=100))
