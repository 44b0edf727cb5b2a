"""The named definitions every rule shares: what each term means, its threshold and its source.

This is the analogue of the CDC opioid CDS `OpioidCDSCommon` library. Each threshold is named once here, and
rule bodies, facts and normalisation read it as `definitions.NAME` when they run, so one changed value changes
every rule that uses it (tests/test_thresholds.py mutates each one and expects a golden case to fail).
"""

from __future__ import annotations

import typing
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from rules import references as refs

# `typing.TYPE_CHECKING`, not a bare TYPE_CHECKING: every public upper-case name of this module is read as a
# threshold (rules.common.thresholds, tests/test_thresholds.py).
if typing.TYPE_CHECKING:
    import datetime

    from rules.base import Reference
    from rules.knowledge.normalise import NormalisedMedication

# --- Thresholds -------------------------------------------------------------------------------------------------

LDN_MIN_DAILY_MG = 1.5  # the LDN range is 1.5-4.5 mg daily; the titration starts at 1.5 mg
LDN_MAX_DAILY_MG = 4.5
LDN_REVIEW_MAX_DAILY_MG = 5.0  # a review describes LDN as 1-5 mg a day (Toljan and Vrooman 2018)
STANDARD_INDUCTION_MG = 25.0  # naltrexone tablets: an initial 25 mg dose
STANDARD_DAILY_MG = 50.0  # then 50 mg once daily
STANDARD_INTERMITTENT_DOSES_MG = (50.0, 100.0, 150.0)  # the label's alternative schedules use these doses
STANDARD_WEEKLY_MAX_MG = 350.0  # ... adding up to at most 50 mg a day over a week
OPIOID_FREE_MIN_DAYS = 7  # opioid-free for a minimum of 7-10 days before starting naltrexone
OPIOID_FREE_DAYS = 10  # the service uses the conservative end of the label's 7-10 days
OPIOID_FREE_DAYS_AFTER_MAINTENANCE = 14  # after methadone or buprenorphine: as long as two weeks
ER_INJECTION_INTERVAL_DAYS = 28  # extended-release naltrexone is given every 4 weeks
BENEFIT_DAYS = 90  # benefits may take 2-3 months to become noticeable
EVALUATION_DAYS = 182  # continue for at least 6 months to evaluate

# Ingredients after which withdrawal can be precipitated for as long as two weeks (extended-release label).
LONG_WINDOW_INGREDIENTS = frozenset({"methadone", "buprenorphine", "levomethadyl", "levomethadone"})

_TOLERANCE = 1e-6


def _same(a, b):
    return a is not None and abs(a - b) <= _TOLERANCE


# --- Definitions ------------------------------------------------------------------------------------------------


def oral_naltrexone(med: NormalisedMedication) -> bool:
    """Oral single-ingredient naltrexone (not the injection, Contrave, or a sequestered opioid combination)."""
    return med.has("naltrexone_oral")


def standard_dose_therapy(med: NormalisedMedication) -> bool:
    """A standard regimen of the naltrexone tablet label: 25 mg or 50 mg once daily, or 50, 100 or 150 mg on an
    intermittent schedule (every other day, every third day, three times a week) totalling at most 350 mg a week.
    A compounded or LDN-labelled product is never standard-dose therapy: commercial tablets serve those regimens."""
    if not oral_naltrexone(med) or med.compounded or med.labelled_low_dose:
        return False
    if med.dose_mg is None or med.times_per_day is None:
        return False
    per_dose, times = med.dose_mg, med.times_per_day
    if _same(times, 1.0):
        return _same(per_dose, STANDARD_INDUCTION_MG) or _same(per_dose, STANDARD_DAILY_MG)
    weekly = per_dose * times * 7
    return (
        times < 1.0
        and any(_same(per_dose, dose) for dose in STANDARD_INTERMITTENT_DOSES_MG)
        and weekly <= STANDARD_WEEKLY_MAX_MG + _TOLERANCE
    )


def low_dose_use(med: NormalisedMedication) -> bool:
    """Low-dose naltrexone: oral naltrexone that is compounded or LDN-labelled, or a commercial product whose daily
    dose is at most the top of the LDN range."""
    if not oral_naltrexone(med):
        return False
    if med.labelled_low_dose or med.compounded:
        return True
    return med.daily_mg is not None and med.daily_mg <= LDN_MAX_DAILY_MG + _TOLERANCE


def regimen_unclear(med: NormalisedMedication) -> bool:
    """Commercial oral naltrexone whose daily dose is known and is neither low-dose use nor standard therapy."""
    return (
        oral_naltrexone(med) and med.daily_mg is not None and not low_dose_use(med) and not standard_dose_therapy(med)
    )


def full_dose_naltrexone(med: NormalisedMedication) -> bool:
    """Naltrexone beyond low-dose use: the extended-release injection, or commercial oral naltrexone that is not
    low-dose use (standard-dose therapy, or a dose between the two). The labels' blockade statements are theirs."""
    return med.has("naltrexone_er_injection") or (oral_naltrexone(med) and not low_dose_use(med))


def recent_extended_release(
    status: str, classes: Collection[str], given: datetime.date | None, as_of: datetime.date
) -> bool:
    """An extended-release naltrexone injection given within its dosing interval still blocks opioids, though its
    order is completed or stopped: it counts as current naltrexone. given: the injection date (or None)."""
    return (
        "naltrexone_er_injection" in classes
        and status in ("completed", "stopped")
        and given is not None
        and 0 <= (as_of - given).days < ER_INJECTION_INTERVAL_DAYS
    )


def naltrexone_start_date(starting: Iterable[NormalisedMedication], as_of: datetime.date) -> datetime.date:
    """When a proposed naltrexone starts: its start_date when that is in the future (the earliest, if several
    orders are proposed), otherwise as_of."""
    planned = [med.start_date for med in starting if med.start_date is not None and med.start_date > as_of]
    return min(planned) if planned else as_of


def last_opioid_use(
    stated: datetime.date | None, medications: Iterable[NormalisedMedication], before: datetime.date
) -> tuple[datetime.date, str] | tuple[None, None]:
    """The latest known opioid use up to a date: the stated last use, or the end date of an opioid order that ends
    by then; (date, source) with source "stated" or the medication's id, or (None, None)."""
    candidates = [(stated, "stated")] if stated else []
    for med in medications:
        # A stopped opioid counts by its end date; a current one only if it is due to end before the start.
        if med.has("opioid_agonist") and med.end_date is not None and (not med.current or med.end_date < before):
            candidates.append((med.end_date, med.id))
    return max(candidates, key=lambda pair: pair[0]) if candidates else (None, None)


def opioid_free_days_needed(last_was_long_acting: bool) -> int:
    """The opioid-free interval the label asks for: 10 days, or 14 after methadone or buprenorphine."""
    return OPIOID_FREE_DAYS_AFTER_MAINTENANCE if last_was_long_acting else OPIOID_FREE_DAYS


# --- The catalogue of definitions (GET /v1/rules, the catalogue page) ------------------------------------------


@dataclass(frozen=True)
class Definition:
    """One named term as a reviewer reads it."""

    name: str
    meaning: str
    sources: tuple[Reference, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "meaning": self.meaning, "sources": [s.id for s in self.sources]}


def catalogue() -> list[Definition]:
    """The definitions with their current values, for the rule catalogue."""
    return [
        Definition(
            "low-dose use",
            f"Oral naltrexone that is compounded or LDN-labelled, or a commercial product taken at no more than "
            f"{LDN_MAX_DAILY_MG:g} mg a day. The guidance summary's range is {LDN_MIN_DAILY_MG:g}-"
            f"{LDN_MAX_DAILY_MG:g} mg daily at bedtime; a review (Toljan 2018) describes 1-{LDN_REVIEW_MAX_DAILY_MG:g} mg.",
            (refs.LDN_GUIDANCE, refs.TOLJAN_2018),
        ),
        Definition(
            "standard-dose therapy",
            "A regimen of the naltrexone tablet label (for alcohol dependence and for blockade of the effects of "
            f"exogenously administered opioids): {STANDARD_INDUCTION_MG:g} mg (initial) or "
            f"{STANDARD_DAILY_MG:g} mg once daily (a 25 mg daily order is read as the label's initial dose, not "
            "flagged; as Drugs.com summarises the label, 25 mg is given once before 50 mg daily), or "
            f"{'/'.join(f'{d:g}' for d in STANDARD_INTERMITTENT_DOSES_MG)} mg on an intermittent schedule of at "
            f"most {STANDARD_WEEKLY_MAX_MG:g} mg a week (the service's bound over the label's schedules, each 50 mg a day on average), of a commercial (not compounded) product. The opioid "
            "rules apply to it; the LDN protocol rules do not.",
            (refs.NALTREXONE_LABEL,),
        ),
        Definition(
            "regimen unclear",
            "Commercial oral naltrexone at a known daily dose that is neither low-dose use nor standard-dose therapy.",
            (refs.LDN_GUIDANCE, refs.NALTREXONE_LABEL),
        ),
        Definition(
            "current naltrexone",
            "A naltrexone product that is active, on hold or proposed; or an extended-release injection given "
            f"less than {ER_INJECTION_INTERVAL_DAYS} days ago, though its order is completed: the label's dosing "
            "interval, over which it blocks opioids for approximately 28 days (the blockade may last somewhat "
            "longer; the service does not count it past the interval).",
            (refs.VIVITROL_LABEL,),
        ),
        Definition(
            "full-dose naltrexone",
            "The extended-release injection, or commercial oral naltrexone that is not low-dose use (standard-dose "
            "therapy, or a dose between the two): the products the labels' blockade statements are about. We found "
            "no study of how far low-dose naltrexone blocks opioids.",
            (refs.NALTREXONE_LABEL, refs.VIVITROL_LABEL),
        ),
        Definition(
            "naltrexone start",
            "A proposed naltrexone when no naltrexone is already current. It starts on its start_date when that "
            "is in the future, otherwise on as_of.",
            (refs.NALTREXONE_LABEL,),
        ),
        Definition(
            "last opioid use",
            "The patient's stated last_opioid_use, or the end date of an opioid order that ended by the start, "
            "whichever is later. An order's end date stands in for the last dose: confirm it with the patient.",
            (refs.NALTREXONE_LABEL,),
        ),
        Definition(
            "opioid-free interval",
            f"The naltrexone label recommends a minimum of {OPIOID_FREE_MIN_DAYS}-{OPIOID_FREE_DAYS} opioid-free "
            "days for patients previously dependent on short-acting opioids; the service applies it to any recent "
            f"opioid use and uses {OPIOID_FREE_DAYS} days. After methadone or buprenorphine the Vivitrol label "
            "warns that withdrawal can be precipitated for as long as two weeks: the service uses "
            f"{OPIOID_FREE_DAYS_AFTER_MAINTENANCE} days for every buprenorphine product (a conservative reading). The "
            "naltrexone label's 7-10 days is written for short-acting opioids; we found no naltrexone source that sets "
            "a longer interval for other long-acting opioids (fentanyl patches, extended-release morphine or "
            "oxycodone; the Lybalvi label, for samidorphan, asks 14 days after long-acting opioids): they get 10 days.",
            (refs.NALTREXONE_LABEL, refs.VIVITROL_LABEL),
        ),
        Definition(
            "LDN trial",
            f"The guidance summary suggests benefits may take 2-3 months ({BENEFIT_DAYS} days) and a course be "
            f"judged after at least 6 months ({EVALUATION_DAYS} days). The trials we read assessed LDN after 8-12 "
            "weeks, which fits the 2-3 months; we found no trial or review that supports the 6 months.",
            (refs.LDN_GUIDANCE,),
        ),
    ]
