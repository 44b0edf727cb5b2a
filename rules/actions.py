"""What an alert offers the clinician, by alert code: override reasons, actions on the draft orders, and how its
severity is shown in other systems. Clinical policy lives here; the CDS Hooks and FHIR code only renders it."""

from rules import definitions

# Override reasons a clinician may pick when acting against a card.
OVERRIDE_REASONS = {
    "opioid-free-verified": "Patient is opioid-free, verified",
    "benefit-outweighs-risk": "Benefit outweighs risk",
    "will-monitor": "Will monitor",
    "naltrexone-held": "Naltrexone will be held for this opioid course",
    "prescriber-aware": "Prescriber aware; intended as ordered",
}
_VERIFY_OPIOID_FREE = ("opioid-free-verified", "benefit-outweighs-risk", "will-monitor")
OVERRIDES_BY_CODE = {
    "opioid-use": ("naltrexone-held", "benefit-outweighs-risk", "will-monitor"),
    "opioid-dependence": _VERIFY_OPIOID_FREE,
    "opioid-use-disorder": _VERIFY_OPIOID_FREE,
    "opioid-dependence-history": _VERIFY_OPIOID_FREE,
    "opioid-free-interval": _VERIFY_OPIOID_FREE,
    "opioid-exposure-signal": _VERIFY_OPIOID_FREE,
}
DEFAULT_OVERRIDES = ("prescriber-aware", "benefit-outweighs-risk", "will-monitor")


def override_reasons(code: str) -> list[tuple[str, str]]:
    """(code, display) of the override reasons offered for an alert code."""
    return [(reason, OVERRIDE_REASONS[reason]) for reason in OVERRIDES_BY_CODE.get(code, DEFAULT_OVERRIDES)]


# Actions on draft orders: which drafts an alert suggests removing, and which it suggests replacing.
REMOVE_OPIOID_DRAFTS = frozenset({"opioid-use"})
REMOVE_NALTREXONE_DRAFTS = frozenset(
    {"opioid-use", "opioid-dependence", "opioid-free-interval", "duplicate-naltrexone"}
)
REPLACE_WITH_COMPOUNDED_LDN = frozenset({"tablet-splitting"})
COMPOUNDED_LDN_SIG = "Take 1 capsule by mouth at bedtime"


def replacement_ldn_dose(dose_mg: float | None) -> float:
    """The compounded LDN dose offered in place of a divided tablet: the order's dose when it is in the LDN
    range's reach, otherwise the target dose."""
    ceiling = definitions.LDN_MAX_DAILY_MG
    return dose_mg if dose_mg and 0 < dose_mg <= ceiling else ceiling


def compounded_ldn_product(dose_mg: float) -> str:
    """The product text of the compounded LDN replacement order."""
    return f"naltrexone {dose_mg:g} mg capsule (compounded low-dose naltrexone)"


# How a severity is shown elsewhere: CDS Hooks card indicators (three levels) and FHIR DetectedIssue severities.
CDS_INDICATOR = {"critical": "critical", "high": "critical", "moderate": "warning", "low": "info", "info": "info"}
DETECTED_ISSUE_SEVERITY = {"critical": "high", "high": "high", "moderate": "moderate", "low": "low", "info": "low"}
# v3-ActCode detected-issue codes: duplicate therapy for duplicates, drug interaction for everything else a drug
# does, and none for a medication the service could not check (that is not an interaction).
DUPLICATE_THERAPY_CODES = frozenset({"duplicate-naltrexone", "second-opioid-antagonist"})
NOT_AN_INTERACTION_CODES = frozenset({"unrecognized-medication"})
