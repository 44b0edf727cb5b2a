"""Marshmallow schemas of the native contract: the POST /v1/check request and its response."""

import math
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate, validates_schema
from marshmallow.utils import set_value
from marshmallow.validate import And

# The system URIs are re-exported: the doors import them from here.
from rules.knowledge.systems import ICD10CM, NDC, RXNORM, SNOMED, canonical_system  # noqa: F401
from rules.knowledge.text import has_control_characters

# Limits (documented in the README and openapi.yaml). The medication count is configurable per app.
MAX_NAME = 500
MAX_TEXT = 2000
MAX_SHORT = 200
MAX_DAYS_SUPPLY = 365  # a pharmacy claim's days' supply
MAX_ID = 128
MAX_CODES = 20
MAX_CONDITIONS = 200
MAX_PROCEDURES = 50
MAX_QUANTITY = 1_000_000.0
DEFAULT_MAX_MEDICATIONS = 500

DOSE_UNITS = (
    "mg",
    "mcg",
    "ug",
    "g",
    "mL",
    "L",
    "tablet",
    "tablets",
    "tab",
    "capsule",
    "capsules",
    "cap",
    "film",
    "patch",
    "spray",
    "puff",
    "drop",
    "unit",
    "units",
    "lozenge",
    "suppository",
    "piece",
    "injection",
    "syringe",
    "vial",
    "dose",
    "tsp",
    "tbsp",
)
STRENGTH_UNITS = ("mg", "mcg", "ug", "g", "mg/mL", "mcg/mL", "mcg/hr", "mg/hr", "mg/24hr", "mcg/24hr")
MEDICATION_STATUSES = ("active", "proposed", "on-hold", "stopped", "completed")
CONDITION_STATUSES = ("active", "recurrence", "relapse", "inactive", "remission", "resolved")


class _ValidatorsBuiltOnce:
    """Field._validate runs the field's validators through Field._validate_all, a property that builds a new
    And(*validators) on every call (a third of a field's load time, issue 17's profile); this builds it once,
    on first use, after marshmallow has finished setting the field up. Same validators, same errors."""

    validators: list[Any]

    def _validate(self, value: Any) -> None:
        check = self.__dict__.get("_validators_once")
        if check is None:
            validators = self.validators
            if not validators:
                check = _no_check
            elif len(validators) == 1 and isinstance(validators[0], validate.Validator):
                check = validators[0]  # what And does with one Validator: its error, as a list of messages
            else:
                check = And(*validators)
            self.__dict__["_validators_once"] = check
        check(value)


def _no_check(value: Any) -> None:
    """A field without validators."""


class String(_ValidatorsBuiltOnce, fields.String):
    pass


class Integer(_ValidatorsBuiltOnce, fields.Integer):
    pass


class Date(_ValidatorsBuiltOnce, fields.Date):
    pass


class Nested(_ValidatorsBuiltOnce, fields.Nested):
    pass


class SafeString(String):
    """A string with a length limit and no control, format (bidi) or unassigned characters."""

    def __init__(self, max_length: int = MAX_SHORT, min_length: int = 1, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=min_length, max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_characters(text):
            raise ValidationError("Must not contain control characters or bidirectional marks.")
        if not text.strip():
            raise ValidationError("Must not be blank.")
        return text


class StrictBoolean(_ValidatorsBuiltOnce, fields.Boolean):
    """Only JSON true and false: "yes" or 1 where a boolean is due is a caller's mistake, not a yes."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class PositiveNumber(_ValidatorsBuiltOnce, fields.Float):
    """A finite JSON number above zero and below the sanity ceiling; strings are not numbers."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Must be a number.")
        try:
            number = float(value)
        except OverflowError:  # a JSON integer too large for a float (e.g. 1 followed by 400 zeros)
            number = math.inf
        if not math.isfinite(number) or number <= 0 or number > MAX_QUANTITY:
            raise ValidationError(f"Must be greater than 0 and at most {MAX_QUANTITY:g}.")
        return number


class StrictSchema(Schema):
    """Unknown fields are errors: a misspelt field silently dropped could hide an alert."""

    class Meta:
        unknown = RAISE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # key in the body -> (where the value goes, the field); and the fields that act even when absent.
        self._by_key = {
            (field.data_key if field.data_key is not None else attr): (field.attribute or attr, field)
            for attr, field in self.load_fields.items()
        }
        self._when_absent = [
            (key, target, field)
            for key, (target, field) in self._by_key.items()
            if field.required or field.load_default is not missing
        ]

    def _deserialize(self, data, *, error_store, many=False, partial=None, unknown=RAISE, index=None):
        """Marshmallow's own loop over one object, visiting only the keys present and the fields that act when
        absent (required, or with a default).

        The stock loop calls every declared field for every object, present or not; a medication has 16 and a
        typical line sends 3 or 4, so most of the load time went to fields that were not there (issue 17's
        profile). The fields, validators, error store and error messages are marshmallow's;
        tests/test_schema_loop.py checks that results and errors equal the stock loop's on valid and broken
        bodies. Anything else (a list, partial loading, a non-object, unknown=INCLUDE) takes the stock loop."""
        if many or partial is not None or unknown != RAISE or not isinstance(data, Mapping):
            return super()._deserialize(
                data, error_store=error_store, many=many, partial=partial, unknown=unknown, index=index
            )
        index = index if self.opts.index_errors else None
        loaded = self.dict_class()
        by_key = self._by_key
        for key, raw in data.items():
            entry = by_key.get(key)
            if entry is None:
                error_store.store_error([self.error_messages["unknown"]], key, index)
            else:
                self._load_field(loaded, data, key, raw, entry[0], entry[1], error_store, index)
        for key, target, field in self._when_absent:
            if key not in data:
                self._load_field(loaded, data, key, missing, target, field, error_store, index)
        return loaded

    @staticmethod
    def _load_field(loaded, data, key, raw, target, field, error_store, index):
        """One field's value into `loaded`, or its error into the store (Schema._call_and_store, inlined)."""
        try:
            value = field.deserialize(raw, key, data)
        except ValidationError as error:
            error_store.store_error(error.messages, key, index=index)
            value = error.valid_data or missing  # a Nested field's valid part, as marshmallow keeps it
        if value is not missing:
            set_value(loaded, target, value)


class CodeSystem(SafeString):
    """A code system URI; the OID forms (urn:oid:2.16.840.1.113883.6.88 …) read as the canonical URI."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        # The limit is on what the caller sent: canonicalising trims, and must not let an oversized value pass.
        for validator in self.validators:
            validator(text)
        return canonical_system(text)


class CodeSchema(StrictSchema):
    system = CodeSystem(required=True, max_length=MAX_SHORT)
    code = SafeString(required=True, max_length=64)
    display = SafeString(max_length=MAX_NAME)


class QuantitySchema(StrictSchema):
    value = PositiveNumber(required=True)
    unit = String(required=True)

    def __init__(self, units: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._units = {u.lower(): u for u in units}

    @validates_schema
    def known_unit(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Units outside the list cannot be converted, so they cannot be checked."""
        unit = data.get("unit")
        if isinstance(unit, str) and unit.strip().lower() not in self._units:
            raise ValidationError(f"Unknown unit; one of: {', '.join(self._units.values())}.", "unit")
        if isinstance(unit, str):
            data["unit"] = self._units[unit.strip().lower()]


class MedicationSchema(StrictSchema):
    id = SafeString(max_length=MAX_ID)
    name = SafeString(max_length=MAX_NAME)
    codes = Nested(CodeSchema, many=True, validate=validate.Length(min=1, max=MAX_CODES))
    dose = Nested(lambda: QuantitySchema(DOSE_UNITS))
    strength = Nested(lambda: QuantitySchema(STRENGTH_UNITS))
    form = SafeString(max_length=MAX_SHORT)
    frequency = SafeString(max_length=MAX_SHORT)
    timing = SafeString(max_length=MAX_SHORT)
    as_needed = StrictBoolean()
    compounded = StrictBoolean()
    instructions = SafeString(max_length=MAX_TEXT)
    status = String(validate=validate.OneOf(MEDICATION_STATUSES))
    start_date = Date()
    end_date = Date()
    # A pharmacy fill: handed over on dispensed_on, covering days_supply days (dispensed_on + days_supply - 1).
    dispensed_on = Date()
    days_supply = Integer(strict=True, validate=validate.Range(min=1, max=MAX_DAYS_SUPPLY))

    @validates_schema
    def named_or_coded(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A medication needs a name or a code to be checked at all."""
        if not data.get("name") and not data.get("codes"):
            raise ValidationError("Give at least one of name and codes.", "name")
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ValidationError("Must not be before start_date.", "end_date")
        if data.get("days_supply") is not None and not data.get("dispensed_on"):
            raise ValidationError(
                "Needs dispensed_on: a supply covers days from the day it was dispensed.", "days_supply"
            )


class ConditionSchema(StrictSchema):
    name = SafeString(max_length=MAX_NAME)
    codes = Nested(CodeSchema, many=True, validate=validate.Length(min=1, max=MAX_CODES))
    status = String(validate=validate.OneOf(CONDITION_STATUSES))

    @validates_schema
    def named_or_coded(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A condition needs a name or a code."""
        if not data.get("name") and not data.get("codes"):
            raise ValidationError("Give at least one of name and codes.", "name")


class ProcedureSchema(StrictSchema):
    name = SafeString(required=True, max_length=MAX_NAME)
    date = Date()


class PatientSchema(StrictSchema):
    conditions = Nested(ConditionSchema, many=True, validate=validate.Length(max=MAX_CONDITIONS))
    opioid_dependence = StrictBoolean()
    last_opioid_use = Date()
    upcoming_procedures = Nested(ProcedureSchema, many=True, validate=validate.Length(max=MAX_PROCEDURES))


class CheckRequestSchema(StrictSchema):
    as_of = Date()
    medications = Nested(MedicationSchema, many=True, required=True)
    patient = Nested(PatientSchema)

    def __init__(self, max_medications: int = DEFAULT_MAX_MEDICATIONS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_medications = max_medications

    @validates_schema(pass_original=True)
    def within_limits(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        """At most max_medications, each id unique (ids are how alerts point back at the caller's list)."""
        meds = data.get("medications") or []
        if len(meds) > self.max_medications:
            raise ValidationError(f"At most {self.max_medications} medications per request.", "medications")
        seen: dict[str, int] = {}
        errors: dict[int, dict[str, list[str]]] = {}
        for index, med in enumerate(meds):
            med_id = med.setdefault("id", str(index))
            if med_id in seen:
                errors[index] = {"id": [f"Duplicate id; also used by medications[{seen[med_id]}]."]}
            seen.setdefault(med_id, index)
        if errors:
            raise ValidationError({"medications": errors})


def flatten_errors(messages: object, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as {"medications[0].dose.value": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "$"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat.setdefault(prefix or "$", []).extend(messages)
    elif isinstance(messages, list):
        for item in messages:
            flat.update(flatten_errors(item, prefix))
    else:
        flat.setdefault(prefix or "$", []).append(str(messages))
    return flat


# --- Response (validated against real responses in the tests; the hot path builds plain dicts) ---


class ReferenceSchema(StrictSchema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    citation = fields.String(required=True)
    url = fields.String()
    pmid = fields.String()
    doi = fields.String()


class AlertSchema(StrictSchema):
    code = fields.String(required=True)
    rule = fields.String(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(("critical", "high", "moderate", "low", "info")))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=139))
    rationale = fields.String(required=True)
    recommendation = fields.String(required=True)
    medications = fields.List(fields.String(), required=True)
    references = fields.List(fields.Nested(ReferenceSchema), required=True, validate=validate.Length(min=1))


class ReadAsSchema(StrictSchema):
    term = fields.String(required=True)
    as_ = fields.String(required=True, data_key="as")


class AmbiguitySchema(StrictSchema):
    term = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("abbreviation", "truncation", "spelling", "sig")))
    readings = fields.List(fields.String(), required=True)
    matters = fields.Boolean(required=True)


class MedicationViewSchema(StrictSchema):
    id = fields.String(required=True)
    recognized = fields.Boolean(required=True)
    ingredients = fields.List(fields.String(), required=True)
    classes = fields.List(fields.String(), required=True)
    status = fields.String(required=True)
    current = fields.Boolean(required=True)
    form = fields.String()
    release = fields.String()
    compounded = fields.Boolean()
    strength_mg = fields.Float()
    dose_mg = fields.Float()
    times_per_day = fields.Float()
    daily_dose_mg = fields.Float()
    as_needed = fields.Boolean()
    bedtime = fields.Boolean()
    tablet_fraction = fields.Float()
    matched = fields.List(fields.String())
    unmatched_terms = fields.List(fields.String())
    recognition = fields.String(validate=validate.OneOf(("partial", "none")))
    read_as = fields.List(fields.Nested(lambda: ReadAsSchema()))
    ambiguities = fields.List(fields.Nested(lambda: AmbiguitySchema()))
    possible_opioid = fields.Boolean()
    assumptions = fields.List(fields.String())
    suggestions = fields.List(fields.String())


class RulesetSchema(StrictSchema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    vocabulary_version = fields.String(required=True)


class ConditionViewSchema(StrictSchema):
    name = fields.String(required=True)
    recognized = fields.Boolean(required=True)
    kind = fields.String(allow_none=True, required=True)


class CheckResponseSchema(StrictSchema):
    conditions = fields.List(fields.Nested(ConditionViewSchema))
    as_of = fields.Date(required=True)
    alerts = fields.List(fields.Nested(AlertSchema), required=True)
    medications = fields.List(fields.Nested(MedicationViewSchema), required=True)
    ruleset = fields.Nested(RulesetSchema, required=True)
