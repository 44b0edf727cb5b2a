"""The opioid-free interval before starting naltrexone: 7-10 days, or 14 after methadone or buprenorphine.

Guideline: patients should be opioid-free for a minimum of 7-10 days before starting naltrexone (naltrexone
tablets label); patients transitioning from buprenorphine or methadone "may be vulnerable to precipitation of
withdrawal symptoms for as long as two weeks" (extended-release naltrexone label). The interval runs from the
last opioid use to the naltrexone start, a planned start date included (rules.definitions). Each rule unit below
carries its When/Then.
"""

from durable.lang import c, m

from rules import definitions as d
from rules.base import Clause, Explanation, Rule
from rules.common import is_set, is_unset
from rules.references import NALTREXONE_LABEL, VIVITROL_LABEL


def naltrexone_start():
    """The patient fact of a naltrexone start with a known last opioid use."""
    return (m.kind == "patient") & is_set(m.naltrexone_start)


def _explain(findings, context):
    patient = findings[0]["start"]
    days = patient["days_since_last_opioid"]
    window = d.opioid_free_days_needed(patient["last_opioid_maintenance"])
    source = patient["last_opioid_source"]
    where = "as recorded" if source == "stated" else f"when {context.medications[source].name} ended"
    planned = patient["start_date"] != context.as_of.isoformat()
    start = f"the planned start on {patient['start_date']}" if planned else f"the start ({patient['start_date']})"
    return Explanation(
        summary=f"Naltrexone start {days} day(s) after the last opioid use; {window} opioid-free days are advised.",
        rationale=(
            f"The last opioid use was on {patient['last_opioid_date']} ({where}), {days} day(s) before {start}. "
            "In a patient who is physically dependent on opioids, naltrexone taken while opioids are still in the "
            f"body can precipitate withdrawal; the naltrexone label asks for at least {d.OPIOID_FREE_MIN_DAYS}-"
            f"{d.OPIOID_FREE_DAYS} opioid-free days (tramadol included), and after methadone or buprenorphine "
            "withdrawal can be precipitated for as long as two weeks."
        ),
        recommendation=(
            f"Start only after at least {window} opioid-free days, and confirm the opioid-free state before the "
            "first dose (history and urine drug screen; the label's naloxone challenge when in doubt)."
        ),
        medications=tuple(patient["naltrexone_start_ids"]),
    )


RULE_CRITICAL = Rule(
    id="LDN-OFI-001",
    code="opioid-free-interval",
    severity="critical",
    summary="Naltrexone started less than 7 days after the last opioid use.",
    guideline="opioid-free for a minimum of 7-10 days before starting naltrexone",
    guideline_source="Naltrexone hydrochloride tablets, prescribing information",
    when="naltrexone is being started (proposed, with no current naltrexone) and the last opioid use was fewer than "
    "7 days before the start (its planned start_date when in the future, otherwise as_of)",
    then="a critical alert: delay the start and confirm the opioid-free state",
    clauses=(
        Clause("under_minimum_interval", lambda: (c.start << (naltrexone_start() & (m.days_since_last_opioid < d.OPIOID_FREE_MIN_DAYS)),)),
    ),
    references=(NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=_explain,
)

RULE_HIGH = Rule(
    id="LDN-OFI-002",
    code="opioid-free-interval",
    severity="high",
    summary="Naltrexone started inside the 7-10 day opioid-free window (14 days after methadone or buprenorphine).",
    guideline="opioid-free for a minimum of 7-10 days; after buprenorphine or methadone, as long as two weeks",
    guideline_source="Naltrexone tablets and Vivitrol prescribing information",
    when="naltrexone is being started and the last opioid use was 7-10 days before the start, or 7-14 days when the "
    "last opioid was methadone or buprenorphine",
    then="a high alert: delay the start until the window has passed and confirm the opioid-free state",
    clauses=(
        Clause(
            "inside_interval",
            lambda: (
                c.start << (
                    naltrexone_start()
                    & is_unset(m.last_opioid_maintenance)
                    & (m.days_since_last_opioid >= d.OPIOID_FREE_MIN_DAYS)
                    & (m.days_since_last_opioid <= d.OPIOID_FREE_DAYS)
                ),
            ),
        ),
        Clause(
            "inside_interval_after_maintenance",
            lambda: (
                c.start << (
                    naltrexone_start()
                    & is_set(m.last_opioid_maintenance)
                    & (m.days_since_last_opioid >= d.OPIOID_FREE_MIN_DAYS)
                    & (m.days_since_last_opioid <= d.OPIOID_FREE_DAYS_AFTER_MAINTENANCE)
                ),
            ),
        ),
    ),
    references=(NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=_explain,
)
