"""Classify a patient's conditions: opioid dependence (current or in remission) and long-term opioid therapy.

By code first (the OUD value sets), then by name as problem lists write it. A name is read as a small grammar:
EHR tags in brackets are dropped ("(HCC)", "(disorder)"), qualifiers are noted (severity, "on maintenance
therapy", "in a controlled environment"), and what remains must say which substance (any opioid, opiate,
narcotic, heroin or an opioid ingredient) and which disorder (use disorder, dependence, abuse, addiction,
withdrawal), or long-term opioid use. A name that mentions an opioid but fits none of this is reported as not
understood, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rules.knowledge.systems import ICD10CM, SNOMED
from rules.knowledge.text import fold, phrase_key

if TYPE_CHECKING:
    from rules.knowledge.vocabulary import Vocabulary

INACTIVE_STATUSES = frozenset({"inactive", "remission", "resolved"})

_TAGS = re.compile(
    r"\((?:hcc|cms[\s-]*hcc|disorder|finding|situation|diagnosis|dx|problem|primary|principal|chronic|code|icd[\s-]*10"
    r"[\s-]*cm|snomed[^)]*|[a-z]\d{2}(?:\.\d{1,4})?)\)|\[[^\]]*\]"
)
_ICD_IN_TEXT = re.compile(r"\b([A-TV-Z]\d{2}(?:\.\d{1,4})?)\b")
_SUBSTANCE = re.compile(
    r"\b(?:opioids?|opiates?|opium|narcotics?|heroin|diamorphine|oud|opioid[\s-]type|opiate[\s-]type)\b"
)
_DISORDER = re.compile(
    r"\b(?:use disorders?|dependence|dependent|addiction|addicted|abuse|withdrawal|oud|misuse|use unspecified|user)\b"
)
_REMISSION = re.compile(
    r"\b(?:remission|remitted|history of|hx of|h/o|personal history|past history|former|formerly|recovered|in recovery)\b"
)
_NEGATED = re.compile(
    r"\b(?:family history|fhx|fh of|no history|denies|negative for|screening|screen for|risk for|risk of"
    r"|at risk|rule out|ruled out|r/o|neonatal|newborn|exposure in utero|maternal)\b"
)
_LONG_TERM = re.compile(r"\b(?:long[\s-]*term|chronic|ltot|cot|daily)\b")
_THERAPY = re.compile(r"\b(?:use|therapy|treatment|analgesics?|medications?|pain medications?|management|patch|on)\b")
_PAIN_ONLY = re.compile(
    r"\b(?:no use disorder|without use disorder|physiologic(?:al)? dependence|due to (?:chronic )?pain"
    r"|for pain|pain treatment|pain management)\b"
)
_MAINTENANCE = re.compile(r"\b(?:maintenance|opioid treatment program|otp|mat|moud)\b")
# Opioid-induced constipation or bowel dysfunction is diagnosed in patients taking opioids regularly, as the
# drugs for it (methylnaltrexone, naloxegol) imply opioid exposure: it is read as long-term opioid therapy.
_INDUCED_BOWEL = re.compile(
    r"\b(?:opioid|opiate|narcotic)s?\s+(?:induced|related)\s+(?:constipation|bowel dysfunction)\b"
)
# Opioid-related but neither dependence nor long-term therapy: read, and no rule applies to them.
_OTHER_OPIOID = re.compile(
    r"\b(?:overdose|poisoning|toxicity|adverse effect|allergy"
    r"|intolerance|hyperalgesia|antagonist)\b"
)


@dataclass(frozen=True)
class ConditionReading:
    """What the service read a condition as: its kind (None when not opioid-related) and whether it understood."""

    kind: str | None = None
    understood: bool = True
    label: str = ""
    abuse_only: bool = False  # opioid abuse or mild use disorder (F11.1x): a use disorder, not dependence


_ABUSE_WORDS = re.compile(r"\b(?:abuse|mild|nondependent|non dependent)\b")
_DEPENDENCE_WORDS = re.compile(r"\b(?:dependence|dependent|withdrawal|moderate|severe|maintenance|on agonist)\b")


def _abuse_only(condition, label):
    """True when what is recorded is opioid abuse or a mild use disorder, and nothing says dependence."""
    codes = [c for c in condition.get("codes") or () if c.get("system") == ICD10CM]
    if codes:
        return all(_icd_key(c["code"]).startswith("F11.1") for c in codes)
    text = fold(label or "")
    return bool(_ABUSE_WORDS.search(text)) and not _DEPENDENCE_WORDS.search(text)


# ICD-10-CM F11 subcategories say what a code records: abuse is not dependence (the tabular list).
_ICD_MEANINGS = (
    ("F11.11", "opioid abuse, in remission"),
    ("F11.21", "opioid dependence, in remission"),
    ("F11.1", "opioid abuse"),
    ("F11.2", "opioid dependence"),
    ("F11.9", "opioid use, unspecified"),
    ("Z79.891", "long-term (current) use of opiate analgesic"),
)


def describe_icd(code: str) -> str | None:
    """What an ICD-10-CM opioid code records ('opioid abuse' for F11.10), or None."""
    key = _icd_key(code)
    return next((meaning for prefix, meaning in _ICD_MEANINGS if key.startswith(prefix)), None)


def _icd_key(code):
    """ICD-10-CM written with or without its dot ('F11.20', 'F1120', 'f11.20 ')."""
    text = code.strip().upper().replace(" ", "")
    if "." not in text and len(text) > 3:
        text = text[:3] + "." + text[3:]
    return text


@lru_cache(maxsize=4)
def _opioid_words(vocabulary):
    """Opioid ingredient and product names: 'fentanyl use disorder', 'Suboxone maintenance'."""
    words = {i for i, classes in vocabulary.classes.items() if "opioid_agonist" in classes}
    return frozenset(words | {"suboxone", "subutex", "methadose", "sublocade", "buprenorphine naloxone"})


def _mentions_opioid(vocabulary, text):
    if _SUBSTANCE.search(text):
        return True
    return any(re.search(r"\b" + re.escape(w) + r"\b", text) for w in _opioid_words(vocabulary) if w in text)


@lru_cache(maxsize=2048)
def _read_name(vocabulary, name):
    """The kind of a condition name as written (see the module docstring for the grammar)."""
    text = fold(name)
    table = vocabulary.conditions
    for code in _ICD_IN_TEXT.findall(name.upper()):
        kind = table["icd10cm"].get(_icd_key(code))
        if kind:
            return ConditionReading(kind, True, name)
    text = _TAGS.sub(" ", text)
    kind = table["names"].get(phrase_key(text))
    if kind:
        return ConditionReading(kind, True, name)
    key = " " + phrase_key(text.replace("-", " ")) + " "
    if not _mentions_opioid(vocabulary, key):
        return ConditionReading(None, True, name)
    if _NEGATED.search(key):
        return ConditionReading(None, True, name)
    disorder = bool(_DISORDER.search(key)) or bool(_MAINTENANCE.search(key))
    remission = bool(_REMISSION.search(key))
    if _INDUCED_BOWEL.search(key) and not disorder:
        return ConditionReading(None if remission else "long_term_opioid_therapy", True, name)
    if (
        _PAIN_ONLY.search(key)
        and _LONG_TERM.search(key)
        or (_LONG_TERM.search(key) and _THERAPY.search(key) and not disorder)
        or (_PAIN_ONLY.search(key) and not re.search(r"\b(?:use disorder|addiction|abuse)\b", key))
    ):
        return ConditionReading(None if remission else "long_term_opioid_therapy", True, name)
    if disorder or re.search(r"\buse\b|\busing\b", key) and remission:
        if remission and not re.search(r"\bon (?:maintenance|agonist|buprenorphine|methadone|suboxone)\b", key):
            return ConditionReading("opioid_dependence_remission", True, name)
        return ConditionReading("opioid_dependence", True, name)
    if _OTHER_OPIOID.search(key):
        return ConditionReading(None, True, name)
    return ConditionReading(None, False, name)


def read_condition(vocabulary: Vocabulary, condition: Mapping[str, Any]) -> ConditionReading:
    """What one condition is, by code first, then by its coding's display, then by name as written."""
    table = vocabulary.conditions
    reading = None
    for code in condition.get("codes") or ():
        kind = None
        if code["system"] == ICD10CM:
            kind = table["icd10cm"].get(_icd_key(code["code"]))
        elif code["system"] == SNOMED:
            kind = table["snomed"].get(code["code"].strip())
        if kind:
            meaning = describe_icd(code["code"]) if code["system"] == ICD10CM else None
            label = code.get("display") or (f"{code['code']} ({meaning})" if meaning else code["code"])
            reading = ConditionReading(kind, True, label)
            break
        if code.get("display"):
            found = _read_name(vocabulary, code["display"])
            if found.kind or not found.understood:
                reading = found
                break
    if reading is None and condition.get("name"):
        reading = _read_name(vocabulary, condition["name"])
    if reading is None:
        label = next((c.get("display") or c["code"] for c in condition.get("codes") or ()), "condition")
        reading = ConditionReading(None, True, label)
    kind = reading.kind
    if kind == "opioid_dependence" and condition.get("status") in INACTIVE_STATUSES:
        kind = "opioid_dependence_remission"
    if kind == "long_term_opioid_therapy" and condition.get("status") in INACTIVE_STATUSES:
        kind = None
    label = condition.get("name") or reading.label
    return ConditionReading(
        kind, reading.understood, label, kind == "opioid_dependence" and _abuse_only(condition, label)
    )


def classify_condition(vocabulary: Vocabulary, condition: Mapping[str, Any]) -> str | None:
    """The opioid-related kind of one condition, or None."""
    return read_condition(vocabulary, condition).kind
