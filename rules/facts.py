"""Build the engine's facts: one patient fact and one fact per medication any rule can use, all precomputed.

Rule conditions stay single-fact tests and equality joins (durable-rules crashes on other joins), so every
flag, number and date difference a rule needs is computed here, in plain Python, and named for what it means.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rules import definitions
from rules.knowledge.conditions import read_condition
from rules.knowledge.normalise import COMMERCIAL_NALTREXONE_TABLETS_MG

if TYPE_CHECKING:
    from rules.knowledge.normalise import NormalisedMedication
    from rules.knowledge.vocabulary import Vocabulary

PATIENT_ID = "patient"
_CUT_WORDS = frozenset({"quarter", "quarters", "dissolve", "dissolved", "crush", "crushed", "shave", "pieces"})
_AMBIGUOUS_CUT_WORDS = frozenset({"cut", "split", "divide", "divided", "break", "halve"})
# The classes that make a recognized medication something a rule reads (the fact's opioid_agonist,
# implies_opioid_exposure, samidorphan and naltrexone flags); any other recognized medication is not posted.
RULE_CLASSES = frozenset({"opioid_agonist", "implies_opioid_exposure", "samidorphan_product", "naltrexone_product"})


@dataclass(frozen=True)
class Facts:
    """What is posted to the engine, and the normalised medications behind it (by id)."""

    patient: dict[str, Any]
    medications: list[dict[str, Any]]
    by_id: dict[str, NormalisedMedication]


def rounded(value: float | None) -> float | None:
    """A quantity rounded to 4 decimals (so 3 × 1.5 mg compares as 4.5), None kept."""
    return None if value is None else round(value, 4)


def _commercial_tablet(med):
    return med.has("naltrexone_oral") and not med.compounded and med.form in (None, "tablet")


def _whole_or_half(fraction):
    return abs(fraction * 2 - round(fraction * 2)) <= 1e-6


def _off_score(med):
    """A dose that is neither whole tablets nor a half along the score.

    With no strength stated, the tablet is one of the commercial strengths (25, 50, 100 mg): the dose is off
    the score if none of them gives it in whole or half tablets.
    """
    fraction = med.tablet_fraction
    if fraction is None and med.dose_mg is not None and med.strength_mg:
        fraction = med.dose_mg / med.strength_mg
    if fraction is not None:
        return not _whole_or_half(fraction)
    if med.dose_mg is not None and med.strength_mg is None:
        return not any(_whole_or_half(med.dose_mg / s) for s in COMMERCIAL_NALTREXONE_TABLETS_MG)
    return False


def _split_instruction(med):
    words = set(med.split_words)
    if words & _CUT_WORDS:
        return True
    # "Split"/"cut" with no stated fraction: we cannot tell it is a half along the score.
    return bool(words & _AMBIGUOUS_CUT_WORDS) and med.tablet_fraction is None and med.dose_mg is None


def _course_days(med, as_of):
    if med.start_date is None:
        return None
    if med.current:
        return (med.end_date - med.start_date).days if med.end_date else None
    end = med.end_date or as_of
    return (end - med.start_date).days


def medication_fact(med: NormalisedMedication, index: int, as_of: datetime.date) -> dict[str, Any] | None:
    """The fact for one normalised medication; None when no rule could use it."""
    if med.recognized and med.classes.isdisjoint(RULE_CLASSES):
        return None  # an ordinary, recognized medication: no rule reads it, so the engine never sees it
    fact: dict[str, Any] = {
        "kind": "medication",
        "pid": PATIENT_ID,
        # The engine identifies facts by "id": ours are positional, the caller's id travels as "ref".
        "id": f"medication-{index}",
        "ref": med.id,
        "recognized": med.recognized,
        "current": med.current,
        "proposed": med.proposed,
        "opioid_agonist": med.has("opioid_agonist"),
        # What the labels contraindicate with naltrexone: opioid analgesics (and maintenance opioids, which are).
        "opioid_analgesic": med.has("opioid_analgesic") or med.has("opioid_maintenance"),
        "opioid_maintenance": med.has("opioid_maintenance"),
        "implies_opioid_exposure": med.has("implies_opioid_exposure"),
        "samidorphan": med.has("samidorphan_product"),
        "naltrexone": med.has("naltrexone_product"),
        "ldn": definitions.low_dose_use(med),
        "standard_dose": definitions.standard_dose_therapy(med),
        "regimen_unclear": definitions.regimen_unclear(med),
        "commercial_naltrexone_tablet": _commercial_tablet(med),
        "off_score_fraction": _off_score(med),
        "split_instruction": _split_instruction(med),
        "schedule_stated": med.schedule_stated,
        "bedtime": med.bedtime is True,
        "daily_known": med.daily_mg is not None,
        # Recognition: "partial" = not read in full (a word left unexplained, an ambiguity that matters, or nothing
        # identified at all) and no word of it could be an opioid; "possible_opioid" = an unresolved word could be
        # one. "unchecked_shown" is set by build_facts: a visible alert already covers the line.
        "identified": med.identified,
        "partial": not med.recognized and not med.possible_opioid,
        "possible_opioid": med.possible_opioid,
        "unchecked_shown": False,
    }
    if med.daily_mg is not None:
        fact["daily_mg"] = rounded(med.daily_mg)
    course = _course_days(med, as_of)
    if course is not None:
        fact["course_days"] = course
        fact["course_ended"] = not med.current
    return fact


def _ingredients_of(medications, med_id):
    """The ingredients of the medication with a caller's id."""
    return next((m.ingredients for m in medications if m.id == med_id), ())


def patient_fact(
    patient: Mapping[str, Any],
    medications: Sequence[NormalisedMedication],
    vocabulary: Vocabulary,
    as_of: datetime.date,
) -> dict[str, Any]:
    """The patient fact: naltrexone on the list, evidence of dependence, last opioid use, procedures."""
    # A sequestered combination (Embeda) releases no naltrexone as directed: it is not a naltrexone product here.
    naltrexone = [
        m
        for m in medications
        if m.has("naltrexone_product") and m.current and not m.has("naltrexone_sequestered_combination")
    ]
    active = [m for m in naltrexone if m.has("naltrexone_active")]
    established = [m for m in active if not m.proposed]
    kinds: dict[str, list[str]] = {}
    for condition in patient.get("conditions") or ():
        reading = read_condition(vocabulary, condition)
        if reading.kind:
            kind = "opioid_use_disorder" if reading.abuse_only else reading.kind
            kinds.setdefault(kind, []).append(reading.label)
    maintenance_meds = [m for m in medications if m.has("opioid_maintenance")]
    fact: dict[str, Any] = {
        "kind": "patient",
        "pid": PATIENT_ID,
        "id": PATIENT_ID,
        "ref": PATIENT_ID,
        "naltrexone_current": bool(active),
        "naltrexone_ids": [m.id for m in active],
        "naltrexone_established": bool(established),
        "naltrexone_start": any(m.proposed for m in active) and not established,
        "naltrexone_start_ids": [m.id for m in active if m.proposed],
        "naltrexone_product_count": len(naltrexone),
        "naltrexone_product_ids": [m.id for m in naltrexone],
        "naltrexone_er_injection": any(m.has("naltrexone_er_injection") for m in naltrexone),
        "naltrexone_full_dose": any(definitions.full_dose_naltrexone(m) for m in active),
        # Naltrexone already treating opioid use disorder (the injection or standard-dose tablets, established):
        # a use-disorder diagnosis is then its indication, not evidence of current dependence.
        "naltrexone_treats_oud": any(definitions.full_dose_naltrexone(m) for m in established),
        "dependence_diagnosis": "opioid_dependence" in kinds or "long_term_opioid_therapy" in kinds,
        "dependence_diagnoses": kinds.get("opioid_dependence", []) + kinds.get("long_term_opioid_therapy", []),
        "use_disorder_diagnosis": "opioid_use_disorder" in kinds,
        "use_disorder_diagnoses": kinds.get("opioid_use_disorder", []),
        "dependence_stated": patient.get("opioid_dependence") is True,
        "dependence_remission": "opioid_dependence_remission" in kinds,
        "remission_diagnoses": kinds.get("opioid_dependence_remission", []),
        "upcoming_procedure": False,
        "procedures": [],
    }
    fact["dependence_current"] = (
        fact["dependence_diagnosis"]
        or fact["use_disorder_diagnosis"]
        or fact["dependence_stated"]
        or any(m.current for m in maintenance_meds)
    )
    starting = [m for m in active if m.proposed] if fact["naltrexone_start"] else []
    start = definitions.naltrexone_start_date(starting, as_of)
    last_use, source = definitions.last_opioid_use(patient.get("last_opioid_use"), medications, start)
    if last_use is not None:
        fact["days_since_last_opioid"] = (start - last_use).days
        fact["last_opioid_source"] = source
        fact["last_opioid_date"] = last_use.isoformat()
        fact["start_date"] = start.isoformat()
        # After methadone or buprenorphine (any product) the longer window applies: the last opioid when we know
        # which one it was, otherwise any such product on the list.
        long_acting = definitions.LONG_WINDOW_INGREDIENTS
        if source == "stated":
            fact["last_opioid_maintenance"] = any(long_acting & set(m.ingredients) for m in medications)
        else:
            fact["last_opioid_maintenance"] = bool(long_acting & set(_ingredients_of(medications, source)))
    for procedure in patient.get("upcoming_procedures") or ():
        date = procedure.get("date")
        if date is None or date >= as_of:
            fact["upcoming_procedure"] = True
            fact["procedures"].append(procedure["name"] + (f" on {date.isoformat()}" if date else ""))
    return fact


def build_facts(
    patient: Mapping[str, Any] | None,
    medications: Sequence[NormalisedMedication],
    vocabulary: Vocabulary,
    as_of: datetime.date,
) -> Facts:
    """The facts for one request: the patient fact and the medication facts rules can use."""
    med_facts = [f for f in (medication_fact(m, i, as_of) for i, m in enumerate(medications)) if f is not None]
    patient_facts = patient_fact(patient or {}, medications, vocabulary, as_of)
    for fact in med_facts:
        fact["unchecked_shown"] = bool(
            patient_facts["naltrexone_current"] and fact["current"] and (fact["partial"] or fact["possible_opioid"])
        )
    return Facts(
        patient=patient_facts,
        medications=med_facts,
        by_id={m.id: m for m in medications},
    )
