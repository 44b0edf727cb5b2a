"""Hypothesis strategies for realistic POST /v1/check bodies: real medication names, doses, sigs and patients.

Names come from the independent fixtures in tests/fixtures/*.tsv (opioids, naltrexone products, look-alikes,
brands, the top 300), so generated lists reach the rules (opioid-use, titration, splitting …), not only the
validators. Every body is valid against openapi.yaml and has an as_of, so answers are deterministic.
"""

import csv
import datetime
from pathlib import Path

from hypothesis import strategies as st

from schemas.check import DOSE_UNITS, STRENGTH_UNITS

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _names(filename, skip_note=None):
    with (FIXTURES / filename).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return tuple(row["name"] for row in rows if row["name"] and (not skip_note or row.get("note") != skip_note))


OPIOIDS = _names("opioid_strings.tsv", skip_note="truncated")
NALTREXONE = _names("naltrexone_strings.tsv")
LOOKALIKES = _names("lookalikes.tsv")
BRANDS = _names("brands_common.tsv")
COMMON = _names("top300.tsv")
NON_OPIOIDS = LOOKALIKES + BRANDS + COMMON
# Free text a real list also holds: supplements, typos, nothing the vocabulary knows.
UNKNOWN = ("vitamin D3 2000 IU", "fish oil", "oxycodon 5mg", "turmeric capsule", "unknown cream", "Rx 4471")

FREQUENCIES = (
    "daily",
    "QD",
    "BID",
    "TID",
    "QID",
    "QHS",
    "at bedtime",
    "every 6 hours as needed",
    "q4h prn",
    "once weekly",
    "every 12 hours",
    "twice a day",
    "nightly",
    "every morning",
    "PRN",
)
TIMINGS = ("bedtime", "morning", "evening", "with breakfast")
INSTRUCTIONS = (
    "take 1 capsule by mouth at bedtime",
    "take 4.5 mg by mouth nightly",
    "cut into 10 pieces and take one piece at bedtime",
    "take 1 tablet every 6 hours as needed for pain",
    "dissolve 50 mg tablet in 50 mL water; take 3 mL daily",
    "apply 1 patch every 72 hours",
    "start 1.5 mg at bedtime, increase by 1.5 mg weekly to 4.5 mg",
)
STATUSES = ("active", "proposed", "on-hold", "stopped", "completed")
CONDITIONS = (
    "fibromyalgia",
    "Crohn's disease",
    "opioid use disorder",
    "Opioid dependence, in remission",
    "long-term current use of opiate analgesic",
    "multiple sclerosis",
    "chronic pain",
    "depression",
)
CONDITION_CODES = (
    ("http://hl7.org/fhir/sid/icd-10-cm", "F11.20"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "F11.21"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "Z79.891"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "M79.7"),
)
PROCEDURES = ("colonoscopy", "knee replacement", "dental extraction", "cataract surgery")
AS_OF = datetime.date(2026, 11, 25)

dates = st.integers(min_value=-400, max_value=200).map(lambda days: AS_OF + datetime.timedelta(days=days))


def _iso(date):
    return date.isoformat()


def quantity(units, low=0.1, high=1000.0):
    """A positive dose or strength with a unit from the contract (in any case)."""
    values = st.one_of(
        st.sampled_from((0.5, 1, 1.5, 2, 3, 4, 4.5, 5, 6, 10, 25, 50, 100, 380)),
        st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 3)),
    ).filter(lambda v: v > 0)
    unit = st.sampled_from(units).flatmap(lambda u: st.sampled_from((u, u.upper(), u.lower())))
    return st.fixed_dictionaries({"value": values, "unit": unit})


@st.composite
def medication(draw, names=None):
    """One medication as an EHR sends it: a name (sometimes with codes), and optional dose, sig and status."""
    name = draw(
        names
        if names is not None
        else st.one_of(
            st.sampled_from(OPIOIDS),
            st.sampled_from(NALTREXONE),
            st.sampled_from(NON_OPIOIDS),
            st.sampled_from(UNKNOWN),
        )
    )
    med = {"name": name}
    optional = {
        "dose": quantity(DOSE_UNITS),
        "strength": quantity(STRENGTH_UNITS),
        "frequency": st.sampled_from(FREQUENCIES),
        "timing": st.sampled_from(TIMINGS),
        "instructions": st.sampled_from(INSTRUCTIONS),
        "status": st.sampled_from(STATUSES),
        "as_needed": st.booleans(),
        "compounded": st.booleans(),
        "form": st.sampled_from(("tablet", "capsule", "oral solution", "patch", "injection")),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            med[key] = draw(strategy)
    if draw(st.integers(0, 3)) == 0:
        start = draw(dates)
        med["start_date"] = _iso(start)
        if draw(st.booleans()):
            med["end_date"] = _iso(start + datetime.timedelta(days=draw(st.integers(0, 120))))
    return med


@st.composite
def patient(draw):
    """Patient context: conditions, a stated dependence, the last opioid use, upcoming procedures."""
    out = {}
    if draw(st.booleans()):
        conditions = []
        for _ in range(draw(st.integers(0, 3))):
            if draw(st.booleans()):
                condition = {"name": draw(st.sampled_from(CONDITIONS))}
            else:
                system, code = draw(st.sampled_from(CONDITION_CODES))
                condition = {"codes": [{"system": system, "code": code}]}
            if draw(st.booleans()):
                condition["status"] = draw(st.sampled_from(("active", "remission", "resolved", "inactive")))
            conditions.append(condition)
        out["conditions"] = conditions
    if draw(st.booleans()):
        out["opioid_dependence"] = draw(st.booleans())
    if draw(st.booleans()):
        out["last_opioid_use"] = _iso(draw(dates))
    if draw(st.booleans()):
        out["upcoming_procedures"] = [
            {"name": draw(st.sampled_from(PROCEDURES)), **({"date": _iso(draw(dates))} if draw(st.booleans()) else {})}
            for _ in range(draw(st.integers(1, 2)))
        ]
    return out


@st.composite
def check_request(draw, max_medications=12):
    """A whole POST /v1/check body: unique ids, as_of fixed, usually naltrexone and often an opioid."""
    meds = []
    if draw(st.integers(0, 4)) > 0:  # most lists hold a naltrexone product: that is where the rules fire
        meds.append(draw(medication(st.sampled_from(NALTREXONE))))
    if draw(st.booleans()):
        meds.append(draw(medication(st.sampled_from(OPIOIDS))))
    meds += draw(st.lists(medication(), max_size=max(0, max_medications - len(meds))))
    meds = draw(st.permutations(meds))
    with_ids = draw(st.booleans())
    body = {"as_of": _iso(AS_OF), "medications": []}
    for index, med in enumerate(meds):
        med = dict(med)
        if with_ids:
            med["id"] = f"m{index}"
        body["medications"].append(med)
    if draw(st.booleans()):
        body["patient"] = draw(patient())
    return body
