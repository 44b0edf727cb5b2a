"""FHIR R4 resources (MedicationRequest, MedicationStatement, Condition) -> the native check request."""

import datetime
import logging
import re

from rules.knowledge.systems import canonical_system
from schemas.check import CONDITION_STATUSES, DOSE_UNITS, MAX_CODES, NDC, RXNORM
from service.errors import BadRequest, ValidationFailed
from service.requests import load_with

log = logging.getLogger(__name__)

MEDICATION_STATUS = {
    "active": "active",
    "on-hold": "on-hold",
    "stopped": "stopped",
    "completed": "completed",
    "draft": "proposed",
    "intended": "proposed",
    "unknown": "active",
}
SKIPPED_STATUS = frozenset(("entered-in-error", "cancelled", "not-taken"))
SKIPPED_VERIFICATION = frozenset(("entered-in-error", "refuted"))
PREFERRED_SYSTEMS = (RXNORM, NDC)
GTS_FREQUENCY = {
    "QD": "daily",
    "BID": "twice daily",
    "TID": "three times daily",
    "QID": "four times daily",
    "AM": "every morning",
    "PM": "every evening",
    "QOD": "every other day",
    "WK": "weekly",
    "MO": "monthly",
    "QHS": "at bedtime",
    "HS": "at bedtime",
}
WHEN_TIMING = {
    "HS": "bedtime",
    "NIGHT": "night",
    "EVE": "evening",
    "EVE.early": "evening",
    "EVE.late": "evening",
    "ACV": "evening",
    "CV": "evening",
    "PCV": "evening",
    "MORN": "morning",
    "MORN.early": "morning",
    "MORN.late": "morning",
    "ACM": "morning",
    "CM": "morning",
    "PCM": "morning",
    "WAKE": "morning",
    "NOON": "noon",
    "ACD": "noon",
    "CD": "noon",
    "PCD": "noon",
    "AFT": "afternoon",
}
PERIOD_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 730.5, "a": 8766.0}
_PER_DAY_WORDS = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
# UCUM codes and common EHR spellings of dose units -> the native contract's units.
UNIT_ALIASES = {
    "ug": "mcg",
    "µg": "mcg",
    "mcg": "mcg",
    "mg": "mg",
    "g": "g",
    "ml": "mL",
    "l": "L",
    "tab": "tablet",
    "tabs": "tablet",
    "tbl": "tablet",
    "tablet": "tablet",
    "tablets": "tablet",
    "cap": "capsule",
    "caps": "capsule",
    "capsule": "capsule",
    "capsules": "capsule",
    "drp": "drop",
    "[drp]": "drop",
    "drop": "drop",
    "drops": "drop",
    "puff": "puff",
    "puffs": "puff",
    "u": "unit",
    "[iu]": "unit",
    "iu": "unit",
    "unit": "unit",
    "units": "unit",
    "patch": "patch",
    "film": "film",
    "spray": "spray",
    "lozenge": "lozenge",
    "suppository": "suppository",
}
_NATIVE_UNITS = {u.lower(): u for u in DOSE_UNITS}
STRENGTH_UNITS = {"mg": "mg", "ug": "mcg", "mcg": "mcg", "g": "g"}


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
            return (
                next((r for r in contained if isinstance(r, dict) and r.get("id") == ref[1:]), None)
                if isinstance(contained, list)
                else None
            )
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
    dosages = (
        resource.get("dosageInstruction")
        if resource.get("resourceType") == "MedicationRequest"
        else resource.get("dosage")
    )
    dosage = dosages[0] if isinstance(dosages, list) and dosages else None
    med = {"name": name, "codes": codes or None, "form": form, "strength": strength, "status": status}
    med.update(dosage_fields(dosage))
    if status != "proposed":
        med["start_date"], med["end_date"] = _period_dates(resource, dosage)
    else:
        med["start_date"] = _bounds(dosage)[0]  # a draft's planned start: the opioid-free interval counts to it
    return {k: v for k, v in med.items() if v is not None}


# MedicationDispense.status values that mean the patient has the supply; the others (entered-in-error, cancelled,
# declined, stopped before handing over, preparation, on-hold, unknown) are not a supply the patient took home.
DISPENSED_STATUS = frozenset(("completed", "in-progress"))
ADMINISTERED_STATUS = frozenset(("completed", "in-progress"))
MAX_DAYS_SUPPLY = 365


def _days_supply(quantity):
    """daysSupply as whole days, 1-365, or None when it is absent or not a number of days."""
    value = _number(quantity.get("value")) if isinstance(quantity, dict) else None
    unit = str(quantity.get("code") or quantity.get("unit") or "d").lower() if isinstance(quantity, dict) else "d"
    if value is None or value <= 0 or unit not in ("d", "day", "days"):
        return None
    return max(1, min(MAX_DAYS_SUPPLY, round(value)))


def dispense_from(resource, index):
    """A native medication dict from a MedicationDispense (a fill: handed-over date and days' supply), or None."""
    if resource.get("status") not in DISPENSED_STATUS:
        return None
    name, codes, form, strength = medication_identity(resource, index)
    if not name and not codes:
        return None
    dosages = resource.get("dosageInstruction")
    dosage = dosages[0] if isinstance(dosages, list) and dosages else None
    med = {"name": name, "codes": codes or None, "form": form, "strength": strength}
    med.update(dosage_fields(dosage))
    med["dispensed_on"] = _date(resource.get("whenHandedOver")) or _date(resource.get("whenPrepared"))
    if med["dispensed_on"]:
        med["days_supply"] = _days_supply(resource.get("daysSupply"))
    return {k: v for k, v in med.items() if v is not None}


def administration_from(resource, index):
    """A native medication dict from a MedicationAdministration (an inpatient dose given), or None."""
    if resource.get("status") not in ADMINISTERED_STATUS:
        return None
    name, codes, form, strength = medication_identity(resource, index)
    if not name and not codes:
        return None
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        given = _date(period.get("end")) or _date(period.get("start"))
    else:
        given = _date(resource.get("effectiveDateTime"))
    if given is None:
        return None
    # The dose was given on that day: a completed medication ending then, which sets the last opioid use.
    med = {
        "name": name,
        "codes": codes or None,
        "form": form,
        "strength": strength,
        "status": "completed",
        "start_date": given,
        "end_date": given,
    }
    return {k: v for k, v in med.items() if v is not None}


def condition_from(resource):
    """A native condition dict from a FHIR Condition, or None (refuted, entered in error, or nothing coded)."""
    verification = {
        c.get("code") for c in _codings(resource.get("verificationStatus")) if isinstance(c.get("code"), str)
    }
    if verification & SKIPPED_VERIFICATION:
        return None
    name, codes = concept_name_and_codes(resource.get("code"))
    if not name and not codes:
        return None
    condition = {"name": name, "codes": codes or None}
    status = next(
        (c.get("code") for c in _codings(resource.get("clinicalStatus")) if c.get("code") in CONDITION_STATUSES), None
    )
    condition["status"] = status
    return {k: v for k, v in condition.items() if v is not None}


class Translation:
    """The native request built from the FHIR resources, and where each native medication came from."""

    def __init__(self):
        self.medications = []
        self.conditions = []
        self.origins = {}  # native id -> {"reference": "MedicationRequest/1" or None, "draft": bool}
        self.condition_origins = []
        self.other_patient = 0  # prefetched resources left out because they name another patient

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
        body = {"as_of": datetime.datetime.now(datetime.UTC).date().isoformat(), "medications": self.medications}
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


def as_bundle(value):
    """draftOrders as a Bundle: a single resource (as some published example requests send it) is a one-entry
    Bundle."""
    if isinstance(value, dict) and value.get("resourceType") not in (None, "Bundle"):
        return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": value}]}
    return value


def translate(draft_orders, gathered, prefetch, patient_id):
    """The native request for this patient: every draft MedicationRequest as proposed, plus the prefetched facts
    (requests, statements, dispenses, administrations, conditions). patient-view has no drafts: draft_orders
    is an empty Bundle."""
    draft_orders = as_bundle(draft_orders)
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
                translation.other_patient += 1
                continue
            if rtype in ("MedicationRequest", "MedicationStatement"):
                status = resource.get("status") if isinstance(resource.get("status"), str) else None
                if status in SKIPPED_STATUS:
                    continue
                med = medication_from(resource, MEDICATION_STATUS.get(status, "active"), index)
                if med is not None:
                    native_id, reference = _native_id(resource, None, f"{rtype}-{number}")
                    translation.add_medication(med, native_id, reference, draft=False)
            elif rtype in ("MedicationDispense", "MedicationAdministration"):
                reader = dispense_from if rtype == "MedicationDispense" else administration_from
                med = reader(resource, index)
                if med is not None:
                    native_id, reference = _native_id(resource, None, f"{rtype}-{number}")
                    translation.add_medication(med, native_id, reference, draft=False)
            elif rtype == "Condition":
                condition = condition_from(resource)
                if condition is not None:
                    translation.add_condition(condition, _native_id(resource, None, None)[1])
    return translation
