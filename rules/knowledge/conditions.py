"""Classify a patient's conditions: opioid dependence (current or in remission) and long-term opioid therapy."""

from rules.knowledge.text import phrase_key

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
INACTIVE_STATUSES = frozenset({"inactive", "remission", "resolved"})


def _icd_key(code):
    """ICD-10-CM written with or without its dot ('F11.20', 'F1120', 'f11.20 ')."""
    text = code.strip().upper().replace(" ", "")
    if "." not in text and len(text) > 3:
        text = text[:3] + "." + text[3:]
    return text


def classify_condition(vocabulary, condition):
    """The opioid-related kind of one condition, or None: by code first, then by name as written."""
    table = vocabulary.conditions
    kind = None
    for code in condition.get("codes") or ():
        if code["system"] == ICD10CM:
            kind = table["icd10cm"].get(_icd_key(code["code"]))
        elif code["system"] == SNOMED:
            kind = table["snomed"].get(code["code"].strip())
        if kind is None and code.get("display"):
            kind = table["names"].get(phrase_key(code["display"]))
        if kind:
            break
    if kind is None and condition.get("name"):
        kind = table["names"].get(phrase_key(condition["name"]))
    if kind == "opioid_dependence" and condition.get("status") in INACTIVE_STATUSES:
        kind = "opioid_dependence_remission"
    if kind == "long_term_opioid_therapy" and condition.get("status") in INACTIVE_STATUSES:
        kind = None
    return kind
