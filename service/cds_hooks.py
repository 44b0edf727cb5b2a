"""CDS Hooks 2.0 services (order-select, order-sign over FHIR R4): FHIR in, the native pipeline, cards out."""

import datetime
import json
import logging
import re
import time
import uuid
from collections import Counter
from urllib.parse import quote

from flask import Blueprint, current_app, g, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from rules.catalogue import RULES_BY_ID
from rules.knowledge.systems import canonical_system
from schemas.cds_hooks import FeedbackSchema, HookRequestSchema, OrderContextSchema
from schemas.check import CONDITION_STATUSES, DOSE_UNITS, MAX_CODES, NDC, RXNORM, flatten_errors
from service import cds_auth, fhir_client
from service.errors import BadRequest, NotFound, PreconditionFailed, Problem, ServiceUnavailable, ValidationFailed
from service.pipeline import current_pipeline
from service.requests import load_with, read_json

log = logging.getLogger(__name__)
bp = Blueprint("cds_hooks", __name__)

# --- Discovery -------------------------------------------------------------------------------------------------

PREFETCH = {
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&status=active",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
}
_DESCRIPTION = (
    "Checks the draft medication orders against the patient's active medications and conditions for low-dose "
    "naltrexone (LDN) safety issues: opioids with naltrexone, opioid dependence, the opioid-free interval, "
    "divided 50 mg tablets, dose, titration and timing."
)
SERVICES = {
    "ldn-order-select": {"hook": "order-select", "title": "LDN safety check (order select)"},
    "ldn-order-sign": {"hook": "order-sign", "title": "LDN safety check (order sign)"},
}
USAGE = (
    "Send a JWT signed by a trusted issuer (CDS Hooks 2.0 security). Prefetch the three keys, or give fhirServer "
    "and fhirAuthorization with read access to the patient's MedicationRequest, MedicationStatement and Condition "
    "resources. Both services give the same cards for the same orders."
)

# --- FHIR vocabularies ------------------------------------------------------------------------------------------

MEDICATION_STATUS = {
    "active": "active", "on-hold": "on-hold", "stopped": "stopped", "completed": "completed",
    "draft": "proposed", "intended": "proposed", "unknown": "active",
}
SKIPPED_STATUS = frozenset(("entered-in-error", "cancelled", "not-taken"))
SKIPPED_VERIFICATION = frozenset(("entered-in-error", "refuted"))
PREFERRED_SYSTEMS = (RXNORM, NDC)
GTS_FREQUENCY = {
    "QD": "daily", "BID": "twice daily", "TID": "three times daily", "QID": "four times daily",
    "AM": "every morning", "PM": "every evening", "QOD": "every other day", "WK": "weekly", "MO": "monthly",
    "QHS": "at bedtime", "HS": "at bedtime",
}
WHEN_TIMING = {
    "HS": "bedtime", "NIGHT": "night", "EVE": "evening", "EVE.early": "evening", "EVE.late": "evening",
    "ACV": "evening", "CV": "evening", "PCV": "evening", "MORN": "morning", "MORN.early": "morning",
    "MORN.late": "morning", "ACM": "morning", "CM": "morning", "PCM": "morning", "WAKE": "morning",
    "NOON": "noon", "ACD": "noon", "CD": "noon", "PCD": "noon", "AFT": "afternoon",
}
PERIOD_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 730.5, "a": 8766.0}
_PER_DAY_WORDS = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
# UCUM codes and common EHR spellings of dose units -> the native contract's units.
UNIT_ALIASES = {
    "ug": "mcg", "µg": "mcg", "mcg": "mcg", "mg": "mg", "g": "g", "ml": "mL", "l": "L",
    "tab": "tablet", "tabs": "tablet", "tbl": "tablet", "tablet": "tablet", "tablets": "tablet",
    "cap": "capsule", "caps": "capsule", "capsule": "capsule", "capsules": "capsule",
    "drp": "drop", "[drp]": "drop", "drop": "drop", "drops": "drop", "puff": "puff", "puffs": "puff",
    "u": "unit", "[iu]": "unit", "iu": "unit", "unit": "unit", "units": "unit",
    "patch": "patch", "film": "film", "spray": "spray", "lozenge": "lozenge", "suppository": "suppository",
}
_NATIVE_UNITS = {u.lower(): u for u in DOSE_UNITS}
STRENGTH_UNITS = {"mg": "mg", "ug": "mcg", "mcg": "mcg", "g": "g"}

# --- Cards ------------------------------------------------------------------------------------------------------

SOURCE_LABEL = "LDN safety rules"
RULE_CODE_SYSTEM = "https://ldn-safety.example/fhir/CodeSystem/ldn-rule-code"
OVERRIDE_SYSTEM = "https://ldn-safety.example/fhir/CodeSystem/ldn-override-reason"
CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ldn-safety.example/cds-hooks/cards")
INDICATOR = {"critical": "critical", "high": "critical", "moderate": "warning", "low": "info", "info": "info"}
_OVERRIDE_DISPLAYS = {
    "opioid-free-verified": "Patient is opioid-free, verified",
    "benefit-outweighs-risk": "Benefit outweighs risk",
    "will-monitor": "Will monitor",
    "naltrexone-held": "Naltrexone will be held for this opioid course",
    "prescriber-aware": "Prescriber aware; intended as ordered",
}
_OVERRIDES_BY_CODE = {
    "opioid-use": ("naltrexone-held", "benefit-outweighs-risk", "will-monitor"),
    "opioid-dependence": ("opioid-free-verified", "benefit-outweighs-risk", "will-monitor"),
    "opioid-dependence-history": ("opioid-free-verified", "benefit-outweighs-risk", "will-monitor"),
    "opioid-free-interval": ("opioid-free-verified", "benefit-outweighs-risk", "will-monitor"),
    "opioid-exposure-signal": ("opioid-free-verified", "benefit-outweighs-risk", "will-monitor"),
}
_DEFAULT_OVERRIDES = ("prescriber-aware", "benefit-outweighs-risk", "will-monitor")
_REMOVE_NALTREXONE_CODES = frozenset(("opioid-use", "opioid-dependence", "opioid-free-interval", "duplicate-naltrexone"))
LDN_MAX_MG = 4.5
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|~])")
_OUTCOME_CODES = {400: "invalid", 401: "login", 404: "not-found", 405: "not-supported", 412: "incomplete",
                  413: "too-long", 415: "not-supported", 422: "invalid", 503: "transient"}
_MISSING = object()


# --- Errors: FHIR OperationOutcome for every non-2xx answer of this blueprint -----------------------------------


def outcome_response(status, diagnostics=None, headers=None):
    """An OperationOutcome answer; a 401 or 5xx carries no diagnostics."""
    issue = {"severity": "error", "code": _OUTCOME_CODES.get(status, "exception")}
    if diagnostics and status != 401 and status < 500:
        issue["diagnostics"] = diagnostics
    response = jsonify({"resourceType": "OperationOutcome", "issue": [issue]})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _describe(errors, limit=8):
    return "; ".join(f"{path}: {' '.join(messages)}" for path, messages in sorted(errors.items())[:limit])


@bp.errorhandler(Problem)
def _problem(problem):
    if problem.status >= 500:
        log.error("CDS Hooks call failed: %s", problem.detail, extra={"event": "request_failed"})
    status = 400 if problem.status == 422 else problem.status  # CDS Hooks: a malformed call is a 400
    detail = problem.detail
    if problem.errors:
        detail = f"{detail} {_describe(problem.errors)}"
    return outcome_response(status, detail, problem.headers)


@bp.errorhandler(HTTPException)
def _http_error(error):
    detail = error.description
    if error.code == 413:
        detail = f"The request body exceeds {current_app.config['MAX_CONTENT_LENGTH']} bytes."
    return outcome_response(error.code or 500, detail)


@bp.errorhandler(Exception)
def _unexpected(error):
    log.exception("unhandled error in a CDS Hooks call", extra={"event": "unhandled_error"})
    return outcome_response(500)


@bp.record_once
def _setup(state):
    cds_auth.init_app(state.app)


@bp.before_request
def _authenticate():
    g.cds_claims = cds_auth.require_cds_auth()


# --- Endpoints --------------------------------------------------------------------------------------------------


@bp.get("/cds-services")
def discovery():
    """The CDS Hooks discovery document."""
    services = [
        {
            "id": service_id,
            "hook": spec["hook"],
            "title": spec["title"],
            "description": _DESCRIPTION,
            "prefetch": dict(PREFETCH),
            "usageRequirements": USAGE,
        }
        for service_id, spec in SERVICES.items()
    ]
    return jsonify({"services": services})


@bp.post("/cds-services/<service_id>")
def call_service(service_id):
    """One order-select or order-sign call: the draft orders and prefetch, checked by the native pipeline."""
    service = _service(service_id)
    started = time.perf_counter()
    envelope = _load(HookRequestSchema(), read_json())
    if envelope["hook"] != service["hook"]:
        raise BadRequest(f"This service answers the {service['hook']} hook, not {envelope['hook']!r}.")
    context = _load(OrderContextSchema(), envelope["context"], "context.")
    patient_id = context["patientId"].removeprefix("Patient/")
    prefetch = envelope.get("prefetch") or {}
    gathered = gather_prefetch(prefetch, envelope, patient_id)
    translation = translate(context["draftOrders"], gathered, prefetch, patient_id)
    pipeline = current_pipeline()
    result = pipeline.check_validated(translation.validated(pipeline.schema)).result
    cards = [card_for(alert, result, translation, context) for alert in result.alerts]
    log.info(
        "CDS Hooks call",
        extra={"event": "cds_call", "service": service_id, "count": len(cards),
               "duration_ms": round((time.perf_counter() - started) * 1000, 2)},
    )
    return jsonify({"cards": cards})


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id):
    """Acknowledge feedback on cards; count outcomes and log them without patient data."""
    _service(service_id)
    data = _load(FeedbackSchema(), read_json())
    counter = current_app.extensions.get("ldn_feedback")
    outcomes = Counter(item["outcome"] for item in data["feedback"])
    for item in data["feedback"]:
        if counter is not None:
            try:
                counter(service_id, item["outcome"])
            except Exception:  # noqa: BLE001  (metrics must never turn an acknowledged feedback into an error)
                log.exception("feedback counter failed", extra={"event": "cds_feedback"})
    for outcome, count in sorted(outcomes.items()):
        # Outcome and count only: card ids, suggestions and the clinician's comment stay out of the log.
        log.info("CDS Hooks feedback", extra={"event": "cds_feedback", "service": service_id, "outcome": outcome, "count": count})
    return jsonify({})


def _service(service_id):
    service = SERVICES.get(service_id)
    if service is None:
        raise NotFound("No such CDS service; see GET /cds-services.")
    return service


def _load(schema, data, prefix=""):
    """Validate with a marshmallow schema; a failure is a 400 naming each field."""
    if not isinstance(data, dict):
        raise BadRequest(f"{prefix.rstrip('.') or 'The body'} must be a JSON object.")
    try:
        return schema.load(data)
    except ValidationError as error:
        errors = {prefix + path: messages for path, messages in flatten_errors(error.messages).items()}
        raise BadRequest("The CDS Hooks request is malformed.", errors=errors) from error


# --- Prefetch ---------------------------------------------------------------------------------------------------


def resources_of(value):
    """The resources in a prefetch value: a Bundle's entries, or a single resource."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry") or ()
        if not isinstance(entries, list):
            return []
        return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [value] if isinstance(value.get("resourceType"), str) else []


def gather_prefetch(prefetch, envelope, patient_id):
    """{key: resources} for our prefetch keys: as sent, or fetched from fhirServer when absent or failed (else 412)."""
    if not isinstance(prefetch, dict):
        raise BadRequest("prefetch must be a JSON object.")
    for key, value in prefetch.items():  # a malformed call is a 400 before anything is fetched
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("resourceType"), str)):
            raise BadRequest(f"prefetch.{key} must be a FHIR resource (a Bundle) or null.")
    deadline = time.monotonic() + float(current_app.config.get("FHIR_TIMEOUT_SECONDS") or 3.0)
    gathered = {}
    for key, template in PREFETCH.items():
        value = prefetch.get(key, _MISSING)
        if value is None:  # the EHR looked and there is nothing
            gathered[key] = []
            continue
        failed = isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"
        if value is _MISSING or failed:
            value = _fetch(key, template, envelope, patient_id, deadline, failed)
        gathered[key] = resources_of(value)
    return gathered


def _fetch(key, template, envelope, patient_id, deadline, failed):
    why = "the EHR's prefetch failed" if failed else "it was not prefetched"
    server = envelope.get("fhirServer")
    if not server:
        raise PreconditionFailed(f"Prefetch '{key}' is needed: {why} and no fhirServer was given to fetch it.")
    token = (envelope.get("fhirAuthorization") or {}).get("access_token")
    query = template.replace("{{context.patientId}}", quote(patient_id, safe=""))
    try:
        return fhir_client.fetch(server, query, token, timeout=deadline - time.monotonic())
    except fhir_client.FhirFetchError as error:
        log.warning(f"FHIR fetch for prefetch '{key}' failed: {error}", extra={"event": "fhir_fetch"})
        raise PreconditionFailed(f"Prefetch '{key}' is needed: {why} and fetching it failed ({error}).") from error


# --- FHIR -> the native request ----------------------------------------------------------------------------------


def _text(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _codings(concept):
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return []
    return [c for c in concept["coding"] if isinstance(c, dict)]


def concept_name_and_codes(concept):
    """(name, codes) of a CodeableConcept: its text (else a coding's display) and every coding with system and code."""
    codings = _codings(concept)
    name = _text(concept.get("text")) if isinstance(concept, dict) else None
    if name is None:
        name = next((_text(c.get("display")) for c in codings if _text(c.get("display"))), None)
    codes, seen = [], set()
    def system_of(coding):
        system = _text(coding.get("system"))
        return canonical_system(system) if system else None

    for coding in sorted(codings, key=lambda c: system_of(c) not in PREFERRED_SYSTEMS):
        system, code = system_of(coding), _text(coding.get("code"))
        if system and code and (system, code) not in seen:
            seen.add((system, code))
            codes.append({"system": system, "code": code})
    return name, codes[:MAX_CODES]


def _reference_key(reference):
    """'Type/id' of a reference (relative or absolute URL), or the reference as written (urn:uuid:…, #contained)."""
    if not isinstance(reference, str):
        return None
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and not reference.startswith(("urn:", "#")):
        return f"{parts[-2]}/{parts[-1]}"
    return reference


class ResourceIndex:
    """Resources by 'Type/id' and fullUrl, to resolve medicationReference within the bundles sent."""

    def __init__(self):
        self._by_key = {}

    def add_bundle(self, bundle):
        """Index a Bundle's entries (by fullUrl too) or a single resource."""
        if not isinstance(bundle, dict):
            return
        entries = bundle.get("entry") if bundle.get("resourceType") == "Bundle" else [{"resource": bundle}]
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                continue
            self.add(entry["resource"], entry.get("fullUrl"))

    def add(self, resource, full_url=None):
        """Index one resource."""
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            self._by_key.setdefault(f"{rtype}/{rid}", resource)
        if isinstance(full_url, str):
            self._by_key.setdefault(full_url, resource)

    def resolve(self, reference, within):
        """The resource a Reference points to: contained in `within`, or in the bundles; None if not sent."""
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(ref, str):
            return None
        if ref.startswith("#"):
            contained = within.get("contained")
            return next(
                (r for r in contained if isinstance(r, dict) and r.get("id") == ref[1:]), None
            ) if isinstance(contained, list) else None
        return self._by_key.get(ref) or self._by_key.get(_reference_key(ref))


def _medication_strength(medication):
    """Strength of a single-ingredient Medication resource in the native units (mg, mcg, g, …/mL), or None."""
    ingredients = medication.get("ingredient")
    if not isinstance(ingredients, list) or len(ingredients) != 1 or not isinstance(ingredients[0], dict):
        return None
    ratio = ingredients[0].get("strength")
    numerator = ratio.get("numerator") if isinstance(ratio, dict) else None
    denominator = ratio.get("denominator") if isinstance(ratio, dict) else None
    if not isinstance(numerator, dict):
        return None
    value = _number(numerator.get("value"))
    unit = STRENGTH_UNITS.get(str(numerator.get("code") or numerator.get("unit") or "").strip().lower())
    if value is None or value <= 0 or unit is None:
        return None
    if isinstance(denominator, dict):
        per = str(denominator.get("code") or denominator.get("unit") or "").strip().lower()
        if _number(denominator.get("value")) != 1:
            return None
        if per == "ml" and unit in ("mg", "mcg"):
            unit = f"{unit}/mL"
    return {"value": value, "unit": unit}


def medication_identity(resource, index):
    """(name, codes, form, strength) of the medication a MedicationRequest or MedicationStatement names."""
    concept = resource.get("medicationCodeableConcept")
    form = strength = None
    if not isinstance(concept, dict):
        reference = resource.get("medicationReference")
        medication = index.resolve(reference, resource)
        if isinstance(medication, dict):
            concept = medication.get("code")
            form = concept_name_and_codes(medication.get("form"))[0]
            strength = _medication_strength(medication)
        elif isinstance(reference, dict):
            concept = {"text": reference.get("display")}
    name, codes = concept_name_and_codes(concept)
    return name, codes, form, strength


def _frequency_from_repeat(repeat):
    """timing.repeat as a frequency the native parser reads: 'twice daily', 'every 8 hours', 'weekly'."""
    frequency = _number(repeat.get("frequency")) or 1.0
    period = _number(repeat.get("period"))
    unit = repeat.get("periodUnit")
    hours = PERIOD_HOURS.get(unit) if isinstance(unit, str) else None
    if not period or period <= 0 or frequency <= 0 or hours is None:
        return None
    between = period * hours / frequency  # hours between doses
    per_day = 24.0 / between
    whole = round(per_day)
    if abs(per_day - whole) < 1e-9 and 1 <= whole <= 12:
        return _PER_DAY_WORDS.get(whole, f"{whole} times daily")
    if abs(per_day - 0.5) < 1e-9:
        return "every other day"
    if abs(per_day - 1 / 7) < 1e-9:
        return "weekly"
    return f"every {between:g} hours"


def _frequency_from_code(code):
    """timing.code (GTS abbreviations such as BID, QD, Q8H) as the native parser's words; else the code as written."""
    for coding in _codings(code):
        value = _text(coding.get("code"))
        if value:
            upper = value.upper()
            hours = re.fullmatch(r"Q(\d+(?:\.\d+)?)H", upper)
            if hours:
                return f"every {hours.group(1)} hours"
            return GTS_FREQUENCY.get(upper, value)
    return _text(code.get("text")) if isinstance(code, dict) else None


def _dose(dose_and_rate):
    """The first doseQuantity (doseAndRate as an array, as R4 says, or an object, as the published example has)."""
    items = dose_and_rate if isinstance(dose_and_rate, list) else [dose_and_rate]
    for item in items:
        quantity = item.get("doseQuantity") if isinstance(item, dict) else None
        if not isinstance(quantity, dict):
            continue
        value = _number(quantity.get("value"))
        for written in (quantity.get("code"), quantity.get("unit")):
            if not isinstance(written, str):
                continue
            key = written.strip().lower()
            key = key[1:-1] if key.startswith("{") and key.endswith("}") else key
            unit = UNIT_ALIASES.get(key) or _NATIVE_UNITS.get(key)
            if unit and value is not None and 0 < value <= 1_000_000:
                return {"value": value, "unit": unit}
        return None  # a dose in units we cannot convert: leave it out, the sig text still says it
    return None


def dosage_fields(dosage):
    """instructions, frequency, timing, dose and as_needed of one FHIR Dosage."""
    if not isinstance(dosage, dict):
        return {}
    out = {"instructions": _text(dosage.get("text"))}
    timing = dosage.get("timing") if isinstance(dosage.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
    out["frequency"] = _frequency_from_repeat(repeat) or _frequency_from_code(timing.get("code"))
    when = repeat.get("when") if isinstance(repeat.get("when"), list) else []
    phrases = list(dict.fromkeys(WHEN_TIMING[w] for w in when if isinstance(w, str) and w in WHEN_TIMING))
    out["timing"] = " and ".join(phrases) or None
    out["dose"] = _dose(dosage.get("doseAndRate"))
    if dosage.get("asNeededBoolean") is True or isinstance(dosage.get("asNeededCodeableConcept"), dict):
        out["as_needed"] = True
    return out


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _date(value):
    return value[:10] if isinstance(value, str) and _DATE.match(value) else None


def _bounds(dosage):
    """The dosage's timing.repeat.boundsPeriod as (start, end) dates: when a request's course starts and ends."""
    timing = dosage.get("timing") if isinstance(dosage, dict) else None
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    period = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
    return (_date(period.get("start")), _date(period.get("end"))) if isinstance(period, dict) else (None, None)


def _period_dates(resource, dosage=None):
    """start and end dates of a MedicationStatement (effective[x]) or a MedicationRequest (the dosage's bounds,
    else authoredOn)."""
    period = resource.get("effectivePeriod")
    bounds_start, bounds_end = _bounds(dosage)
    if isinstance(period, dict):
        start, end = _date(period.get("start")), _date(period.get("end"))
    else:
        start = bounds_start or _date(resource.get("effectiveDateTime") or resource.get("authoredOn"))
        end = bounds_end
    if start and end and end < start:
        end = None  # contradictory EHR data: keep the start, drop the impossible end rather than refuse the call
    return start, end


def _subject_matches(resource, patient_id):
    """False only when the resource names another patient (a mixed-up bundle must not leak into this check)."""
    subject = resource.get("subject") or resource.get("patient")
    key = _reference_key(subject.get("reference")) if isinstance(subject, dict) else None
    return not (isinstance(key, str) and key.startswith("Patient/") and key != f"Patient/{patient_id}")


def medication_from(resource, status, index):
    """A native medication dict from a MedicationRequest or MedicationStatement, or None if it names nothing."""
    name, codes, form, strength = medication_identity(resource, index)
    if not name and not codes:
        return None
    dosages = resource.get("dosageInstruction") if resource.get("resourceType") == "MedicationRequest" else resource.get("dosage")
    dosage = dosages[0] if isinstance(dosages, list) and dosages else None
    med = {"name": name, "codes": codes or None, "form": form, "strength": strength, "status": status}
    med.update(dosage_fields(dosage))
    if status != "proposed":
        med["start_date"], med["end_date"] = _period_dates(resource, dosage)
    else:
        med["start_date"] = _bounds(dosage)[0]  # a draft's planned start: the opioid-free interval counts to it
    return {k: v for k, v in med.items() if v is not None}


def condition_from(resource):
    """A native condition dict from a FHIR Condition, or None (refuted, entered in error, or nothing coded)."""
    verification = {c.get("code") for c in _codings(resource.get("verificationStatus")) if isinstance(c.get("code"), str)}
    if verification & SKIPPED_VERIFICATION:
        return None
    name, codes = concept_name_and_codes(resource.get("code"))
    if not name and not codes:
        return None
    condition = {"name": name, "codes": codes or None}
    status = next((c.get("code") for c in _codings(resource.get("clinicalStatus")) if c.get("code") in CONDITION_STATUSES), None)
    condition["status"] = status
    return {k: v for k, v in condition.items() if v is not None}


class Translation:
    """The native request built from the FHIR resources, and where each native medication came from."""

    def __init__(self):
        self.medications = []
        self.conditions = []
        self.origins = {}  # native id -> {"reference": "MedicationRequest/1" or None, "draft": bool}
        self.condition_origins = []

    def add_medication(self, med, native_id, reference, draft):
        """Add one medication unless its id is already on the list (a draft wins over its prefetched copy)."""
        if native_id in self.origins:
            return
        med["id"] = native_id
        self.medications.append(med)
        self.origins[native_id] = {"reference": reference, "draft": draft, "name": med.get("name")}

    def add_condition(self, condition, reference):
        """Add one condition; the same diagnosis recorded twice counts once."""
        if condition not in self.conditions:
            self.conditions.append(condition)
            self.condition_origins.append(reference)

    def body(self):
        """The native request body (plain JSON), as of today in UTC."""
        body = {"as_of": datetime.datetime.now(datetime.timezone.utc).date().isoformat(), "medications": self.medications}
        if self.conditions:
            body["patient"] = {"conditions": self.conditions}
        return body

    def validated(self, schema):
        """The body through the native schema; a refusal there (bad strings, limits) is the caller's 400."""
        try:
            return load_with(schema, self.body())
        except ValidationFailed as problem:
            errors = {self._where(path): messages for path, messages in (problem.errors or {}).items()}
            raise BadRequest("A FHIR resource holds a value the service cannot accept.", errors=errors) from problem

    def _where(self, path):
        """medications[3].name -> MedicationRequest/9 name (which resource to fix)."""
        match = re.match(r"^medications\[(\d+)\]\.?(.*)$", path)
        if match and int(match.group(1)) < len(self.medications):
            return f"{self.medications[int(match.group(1))]['id']} {match.group(2)}".strip()
        match = re.match(r"^patient\.conditions\[(\d+)\]\.?(.*)$", path)
        if match and int(match.group(1)) < len(self.condition_origins):
            return f"{self.condition_origins[int(match.group(1))] or 'Condition'} {match.group(2)}".strip()
        return path


def _native_id(resource, full_url, fallback):
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rid, str) and rid.strip():
        return f"{rtype}/{rid}", f"{rtype}/{rid}"
    if isinstance(full_url, str) and 0 < len(full_url) <= 128:
        return full_url, None
    return fallback, None


def translate(draft_orders, gathered, prefetch, patient_id):
    """The native request for this patient: every draft MedicationRequest as proposed, plus the prefetched facts."""
    index = ResourceIndex()
    index.add_bundle(draft_orders)
    for value in prefetch.values():
        index.add_bundle(value)
    for resources in gathered.values():
        for resource in resources:
            index.add(resource)
    translation = Translation()
    entries = draft_orders.get("entry") or []
    for number, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "MedicationRequest":
            continue
        if not _subject_matches(resource, patient_id):
            raise BadRequest("A draft order names another patient than context.patientId.")
        med = medication_from(resource, "proposed", index)  # being ordered now, whatever its status says
        if med is None:
            log.info("draft order without an identifiable medication skipped", extra={"event": "cds_skip"})
            continue
        native_id, reference = _native_id(resource, entry.get("fullUrl"), f"draft-{number}")
        translation.add_medication(med, native_id, reference, draft=True)
    number = 0
    for resources in gathered.values():
        for resource in resources:
            number += 1
            rtype = resource.get("resourceType")
            if not _subject_matches(resource, patient_id):
                continue
            if rtype in ("MedicationRequest", "MedicationStatement"):
                status = resource.get("status") if isinstance(resource.get("status"), str) else None
                if status in SKIPPED_STATUS:
                    continue
                med = medication_from(resource, MEDICATION_STATUS.get(status, "active"), index)
                if med is not None:
                    native_id, reference = _native_id(resource, None, f"{rtype}-{number}")
                    translation.add_medication(med, native_id, reference, draft=False)
            elif rtype == "Condition":
                condition = condition_from(resource)
                if condition is not None:
                    translation.add_condition(condition, _native_id(resource, None, None)[1])
    return translation


# --- Alerts -> cards --------------------------------------------------------------------------------------------


def _markdown(text):
    """Plain text safe inside Markdown: medication names come from the EHR and must not become links or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _detail(alert):
    lines = [_markdown(alert["rationale"]), "", f"**Recommendation:** {_markdown(alert['recommendation'])}"]
    if alert["references"]:
        lines += ["", "**Evidence**", ""]
        for ref in alert["references"]:
            lines.append(f"- *{_markdown(ref['title'])}*: {_markdown(ref['citation'])}")
    return "\n".join(lines)


def _summary(text):
    return text if len(text) < 140 else text[:138].rstrip() + "…"


def _prune(value):
    """Drop None, empty strings, lists and objects everywhere: CDS Hooks omits what has no value."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        pruned = [_prune(v) for v in value]
        return [v for v in pruned if v not in (None, "", [], {})]
    return value


def _delete_suggestion(card_id, label, ids, translation):
    actions = [
        {
            "type": "delete",
            "description": f"Remove the draft order for {translation.origins[i]['name'] or i}.",
            "resourceId": translation.origins[i]["reference"],
        }
        for i in ids
    ]
    return {"label": label, "uuid": str(uuid.uuid5(card_id, label)), "actions": actions}


def _compounded_ldn_order(dose_mg, context):
    """A draft MedicationRequest for compounded LDN capsules at bedtime."""
    resource = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": f"naltrexone {dose_mg:g} mg capsule (compounded low-dose naltrexone)"},
        "subject": {"reference": f"Patient/{context['patientId'].removeprefix('Patient/')}"},
        "dosageInstruction": [
            {
                "text": "Take 1 capsule by mouth at bedtime",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "capsule"}}],
            }
        ],
    }
    if context.get("encounterId"):
        resource["encounter"] = {"reference": f"Encounter/{context['encounterId'].removeprefix('Encounter/')}"}
    return resource


def _suggestions(card_id, alert, result, translation, context):
    """Concrete actions on the draft orders: remove an opioid or naltrexone draft, replace a divided tablet."""
    views = {m["id"]: m for m in result.medications}
    drafts = [i for i in alert["medications"] if translation.origins.get(i, {}).get("draft") and translation.origins[i]["reference"]]

    def of_class(cls):
        return [i for i in drafts if cls in views.get(i, {}).get("classes", ())]

    suggestions = []
    code = alert["code"]
    if code == "opioid-use" and of_class("opioid_agonist"):
        opioids = of_class("opioid_agonist")
        label = "Remove the draft opioid order" + ("s" if len(opioids) > 1 else "")
        suggestions.append(_delete_suggestion(card_id, label, opioids, translation))
    if code in _REMOVE_NALTREXONE_CODES and of_class("naltrexone_product"):
        naltrexone = of_class("naltrexone_product")
        label = "Remove the draft naltrexone order" + ("s" if len(naltrexone) > 1 else "")
        suggestions.append(_delete_suggestion(card_id, label, naltrexone, translation))
    if code == "tablet-splitting":
        for med_id in of_class("naltrexone_product"):
            dose = views[med_id].get("dose_mg")
            dose = dose if dose and 0 < dose <= LDN_MAX_MG else LDN_MAX_MG
            label = f"Replace with compounded low-dose naltrexone {dose:g} mg capsules"
            suggestion = _delete_suggestion(card_id, label, [med_id], translation)
            suggestion["actions"].append(
                {
                    "type": "create",
                    "description": f"Order naltrexone {dose:g} mg capsules (compounded), 1 capsule at bedtime.",
                    "resource": _compounded_ldn_order(dose, context),
                }
            )
            suggestions.append(suggestion)
    return suggestions


def card_for(alert, result, translation, context):
    """One CDS Hooks card for one alert; the uuid is stable for the same patient, rule and orders."""
    patient = context["patientId"].removeprefix("Patient/")
    card_id = uuid.uuid5(CARD_NAMESPACE, json.dumps([patient, alert["rule"], sorted(alert["medications"])]))
    rule = RULES_BY_ID.get(alert["rule"])
    url = next((ref["url"] for ref in alert["references"] if ref.get("url")), None)
    card = {
        "uuid": str(card_id),
        "summary": _summary(alert["summary"]),
        "detail": _detail(alert),
        "indicator": INDICATOR[alert["severity"]],
        "source": {
            "label": SOURCE_LABEL,
            "url": url,
            "topic": {"system": RULE_CODE_SYSTEM, "code": alert["code"], "display": rule.summary if rule else None},
        },
        "overrideReasons": [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": _OVERRIDE_DISPLAYS[code]}
            for code in _OVERRIDES_BY_CODE.get(alert["code"], _DEFAULT_OVERRIDES)
        ],
        "links": [
            {"label": ref["title"], "url": ref["url"], "type": "absolute"} for ref in alert["references"] if ref.get("url")
        ],
    }
    suggestions = _suggestions(card_id, alert, result, translation, context)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    return _prune(card)
