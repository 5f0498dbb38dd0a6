"""The certificate API contract (marshmallow): lists, details, issuing, grants, public checks."""

from __future__ import annotations

import json

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lims.certificates.public import withdrawal_cause
from lims.certificates.search import CERTIFICATE_SORTING
from lims.kernel.models.certificate import CERTIFICATE_STATUSES
from lims.web.schemas import LAB_RECORD, Aware, ReaderSchema, SortField, key_of


class CertificateSchema(ReaderSchema):
    """A customer reads who authorised a certificate in its content (name and function), and why
    it was withdrawn as the cause, as anyone may; the login and the free-text reason are the lab's."""

    id = fields.Integer()
    number = fields.String()
    revision = fields.Integer()
    status = fields.String(metadata={"description": "valid, withdrawn or superseded"})
    kind = fields.String(metadata={"description": "sample or lot"})
    owner = key_of("owner.key")
    lot = key_of("lot.code")
    material = key_of("material.key")
    line = key_of("line.key")
    grade = fields.String(allow_none=True)
    samples = fields.Function(lambda c: [s.code for s in c.samples])
    issued_at = fields.DateTime()
    issued_by = key_of("issued_by.username", LAB_RECORD)
    content_hash = fields.String()
    key_id = fields.String(metadata={"description": "Which lab key signed it."})
    withdrawn_at = fields.DateTime(allow_none=True)
    withdrawn_reason = fields.String(metadata=LAB_RECORD)
    withdrawal_cause = fields.Function(
        withdrawal_cause,
        metadata={"description": "invalidated, pending_revision (reopened for a correction) or superseded."},
    )
    replaces = key_of("supersedes.number")
    superseded_by = key_of("superseded_by.number")


class GrantSchema(Schema):
    organization = key_of("organization.key")
    organization_name = key_of("organization.name")
    granted_at = fields.DateTime()


class CertificateDetailSchema(CertificateSchema):
    content = fields.Function(
        lambda c: json.loads(c.content),
        metadata={"description": "The signed content (as in the JSON file)."},
    )
    # Who it is shared with is not here: customers read certificates too (GET .../grants).


class CertificateQuerySchema(Schema):
    lot = fields.String(metadata={"description": "Lot code, exactly."})
    material = fields.String(metadata={"description": "Material key (pp, pe-hd, ...)."})
    grade = fields.String()
    line = fields.String(metadata={"description": "Programme line key (ntk, dctv)."})
    status = fields.String(validate=validate.OneOf(CERTIFICATE_STATUSES))
    sample = fields.String(metadata={"description": "A sample code the certificate covers."})
    issued_from = Aware(metadata={"description": "Issued at or after."})
    issued_to = Aware(metadata={"description": "Issued before."})
    q = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Text in the number, lot, samples, material, customer or description."},
    )
    sort = SortField(CERTIFICATE_SORTING)


class AmendSchema(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=380),
        metadata={"description": "Why the certificate is amended (printed on the revision)."},
    )
    deviations = fields.List(
        fields.String(validate=validate.Length(min=1, max=1000)),
        validate=validate.Length(max=20),
        load_default=list,
        metadata={"description": "Deviations to state on the revision, if any."},
    )


class CertificateCreateSchema(Schema):
    sample = fields.String(metadata={"description": "Certify this verified sample ..."})
    lot = fields.String(metadata={"description": "... or this lot, from all its verified samples."})
    deviations = fields.List(
        fields.String(validate=validate.Length(min=1, max=1000)),
        validate=validate.Length(max=20),
        load_default=list,
        metadata={"description": "Deviations from the methods or the sampling, if any."},
    )
    replaces = fields.String(
        metadata={
            "description": "Number of the withdrawn lot certificate this revision of the lot "
            "replaces (7.8.8); a sample certificate is amended instead."
        }
    )

    @validates_schema
    def _one_item(self, data: dict, **_kwargs) -> None:
        if ("sample" in data) == ("lot" in data):
            raise ValidationError("give either a sample or a lot", "sample")


class GrantCreateSchema(Schema):
    organization = fields.String(
        required=True, metadata={"description": "Key of the organization to share with (the buyer)."}
    )


class PublicCertificateSchema(Schema):
    """What anyone holding the number may see: no customer, no results."""

    number = fields.String()
    revision = fields.Integer()
    status = fields.String()
    material = fields.Dict()
    grade = fields.String(allow_none=True)
    issued_on = fields.String()
    time_zone = fields.String()
    laboratory = fields.String()
    content_hash = fields.String()
    withdrawn_at = fields.DateTime(allow_none=True)
    withdrawal_cause = fields.String(
        allow_none=True,
        metadata={"description": "invalidated, pending_revision (reopened for a correction) or superseded."},
    )
    withdrawal_category = fields.String(
        allow_none=True, metadata={"description": "Why it is no longer valid, as a category."}
    )
    withdrawn_on = fields.String(allow_none=True)
    superseded_by = fields.String(allow_none=True)
    replaces = fields.String(allow_none=True)
    current_revision = fields.String(
        allow_none=True,
        metadata={"description": "The revision in force that replaced this one (superseded_by may itself be superseded)."},
    )
    hash_matches = fields.Boolean(
        allow_none=True, metadata={"description": "Whether ?hash= equals the registered hash."}
    )


class PublicLookupSchema(Schema):
    hash = fields.String(metadata={"description": "Content hash printed on the document."})


class UploadResultSchema(Schema):
    valid = fields.Boolean(metadata={"description": "Genuine, unaltered and still valid."})
    reason = fields.String()
    signature_valid = fields.Boolean()
    registered = fields.Boolean()
    matches_registered = fields.Boolean(
        metadata={"description": "The signed content equals the registered certificate byte for byte."}
    )
    certificate = fields.Nested(PublicCertificateSchema, allow_none=True)
