"""Marshmallow schemas of the CDS Hooks 2.0 envelope (service call and feedback): strict on what we rely on, tolerant of the rest."""

import re
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates, validates_schema

from schemas.check import MAX_ID, MAX_SHORT, MAX_TEXT, SafeString

# FHIR R4 id: letters, digits, "-" and ".", at most 64 characters.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_URL = 2048
MAX_SELECTIONS = 500
MAX_FEEDBACK = 100


class TolerantSchema(Schema):
    """EHRs send extensions and fields we do not use: keep them, never refuse a call for them."""

    class Meta:
        unknown = INCLUDE


class FhirAuthorizationSchema(TolerantSchema):
    access_token = fields.String(required=True, validate=validate.Length(min=1, max=16_384))
    token_type = fields.String(validate=validate.Length(max=MAX_SHORT))
    expires_in = fields.Raw()
    scope = fields.String(validate=validate.Length(max=MAX_TEXT * 4))
    subject = fields.String(validate=validate.Length(max=MAX_TEXT))

    @validates("token_type")
    def bearer(self, value: str, **kwargs: Any) -> None:
        """The spec allows only Bearer tokens."""
        if value.lower() != "bearer":
            raise ValidationError("Must be Bearer.")


class HookRequestSchema(TolerantSchema):
    hook = SafeString(required=True, max_length=MAX_SHORT)
    hookInstance = SafeString(required=True, max_length=MAX_ID)  # noqa: N815 (the spec's field name)
    fhirServer = fields.Url(schemes=("http", "https"), require_tld=False, validate=validate.Length(max=MAX_URL))  # noqa: N815
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema)  # noqa: N815
    context = fields.Dict(required=True)
    prefetch = fields.Dict(allow_none=True)

    @validates_schema
    def server_with_authorization(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The spec: fhirServer is required when fhirAuthorization is sent."""
        if data.get("fhirAuthorization") and not data.get("fhirServer"):
            raise ValidationError("Required when fhirAuthorization is given.", "fhirServer")


class PatientViewContextSchema(TolerantSchema):
    """The context of patient-view: who opened whose chart (no draft orders)."""

    userId = SafeString(max_length=MAX_SHORT)  # noqa: N815
    patientId = SafeString(required=True, max_length=MAX_SHORT)  # noqa: N815
    encounterId = SafeString(max_length=MAX_SHORT)  # noqa: N815

    @validates("patientId")
    def fhir_id(self, value: str, **kwargs: Any) -> None:
        """`123` or `Patient/123`; the id goes into FHIR queries, so only FHIR id characters."""
        bare = value.removeprefix("Patient/")
        if not FHIR_ID.match(bare):
            raise ValidationError("Must be a FHIR Patient id (letters, digits, '-' and '.', at most 64).")


class OrderContextSchema(PatientViewContextSchema):
    """The context of order-select and order-sign (selections only matter to order-select)."""

    selections = fields.List(SafeString(max_length=MAX_SHORT), validate=validate.Length(max=MAX_SELECTIONS))
    draftOrders = fields.Dict(required=True)  # noqa: N815

    @validates("draftOrders")
    def bundle(self, value: dict[str, Any], **kwargs: Any) -> None:
        """A FHIR Bundle, or a single order resource (read as a one-entry Bundle)."""
        kind = value.get("resourceType")
        if not (isinstance(kind, str) and (kind == "Bundle" or kind.endswith("Request"))):
            raise ValidationError("Must be a FHIR Bundle of draft orders, or a single order (MedicationRequest).")
        if not isinstance(value.get("entry", []), list):
            raise ValidationError("Bundle.entry must be an array.")


class CodingSchema(TolerantSchema):
    system = fields.String(validate=validate.Length(max=MAX_URL))
    code = fields.String(validate=validate.Length(max=MAX_SHORT))
    display = fields.String(validate=validate.Length(max=MAX_TEXT))


class OverrideReasonSchema(TolerantSchema):
    reason = fields.Nested(CodingSchema)
    userComment = fields.String(validate=validate.Length(max=MAX_TEXT * 2))  # noqa: N815


class AcceptedSuggestionSchema(TolerantSchema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ID))


class FeedbackItemSchema(TolerantSchema):
    card = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ID))
    outcome = fields.String(required=True, validate=validate.OneOf(("accepted", "overridden")))
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema), validate=validate.Length(max=50))  # noqa: N815
    overrideReason = fields.Nested(OverrideReasonSchema)  # noqa: N815
    outcomeTimestamp = fields.DateTime(required=True)  # noqa: N815

    @validates_schema
    def consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Accepted suggestions go with `accepted`, an override reason with `overridden`."""
        if data.get("outcome") == "overridden" and data.get("acceptedSuggestions"):
            raise ValidationError("Only with outcome accepted.", "acceptedSuggestions")
        if data.get("outcome") == "accepted" and data.get("overrideReason"):
            raise ValidationError("Only with outcome overridden.", "overrideReason")


class FeedbackSchema(TolerantSchema):
    feedback = fields.List(
        fields.Nested(FeedbackItemSchema), required=True, validate=validate.Length(min=1, max=MAX_FEEDBACK)
    )
