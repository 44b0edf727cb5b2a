"""The opioid-free interval before starting naltrexone: 7-10 days, or 14 after methadone or buprenorphine.

Guideline: patients should be opioid-free for a minimum of 7-10 days before starting naltrexone (naltrexone
label, tramadol included); patients transitioning from buprenorphine or methadone "may be vulnerable to
precipitation of withdrawal symptoms for as long as two weeks" (extended-release naltrexone label).

When  naltrexone is being started (proposed, no current naltrexone) and the last opioid use was under 7 days ago
Then  critical.
When  it was 7 to 10 days ago (7 to 14 days when the last opioid was methadone or buprenorphine)
Then  high.
Past the window: nothing. The last use is the patient's last_opioid_use, or the end date of a stopped opioid.
"""

from durable.lang import m

from rules.base import Clause, Explanation, Rule
from rules.references import NALTREXONE_LABEL, VIVITROL_LABEL


def naltrexone_start():
    """The patient fact of a naltrexone start with a known last opioid use."""
    return (m.kind == "patient") & (m.naltrexone_start == True)  # noqa: E712


def _explain(findings, context, severity_words):
    patient = findings[0]["m"]
    days = patient["days_since_last_opioid"]
    window = 14 if patient["last_opioid_maintenance"] else 10
    source = patient["last_opioid_source"]
    where = "as recorded" if source == "stated" else f"when {context.medications[source].name} ended"
    return Explanation(
        summary=f"Naltrexone start {days} day(s) after the last opioid use; {window} opioid-free days are advised.",
        rationale=(
            f"The last opioid use was {days} day(s) before {context.as_of.isoformat()} ({where}). Starting "
            "naltrexone in a patient who still has opioids on board can precipitate withdrawal, "
            f"{severity_words}. The naltrexone label asks for at least 7-10 opioid-free days (tramadol "
            "included); after methadone or buprenorphine, withdrawal can be precipitated for as long as two weeks."
        ),
        recommendation=(
            f"Delay the start until the patient has been opioid-free for at least {window} days, and confirm "
            "the opioid-free state before the first dose (history, urine drug screen, and a naloxone challenge "
            "if in doubt)."
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
    "7 days before as_of",
    then="a critical alert: delay the start and confirm the opioid-free state",
    clauses=(Clause("under_7_days", lambda: (naltrexone_start() & (m.days_since_last_opioid < 7),)),),
    references=(NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=lambda findings, context: _explain(findings, context, "which is likely this soon after opioid use"),
)

RULE_HIGH = Rule(
    id="LDN-OFI-002",
    code="opioid-free-interval",
    severity="high",
    summary="Naltrexone started inside the 7-10 day opioid-free window (14 days after methadone or buprenorphine).",
    guideline="opioid-free for a minimum of 7-10 days; after buprenorphine or methadone, as long as two weeks",
    guideline_source="Naltrexone tablets and Vivitrol prescribing information",
    when="naltrexone is being started and the last opioid use was 7-10 days before as_of, or 7-14 days when the last "
    "opioid was methadone or buprenorphine",
    then="a high alert: delay the start until the window has passed and confirm the opioid-free state",
    clauses=(
        Clause(
            "inside_10_day_window",
            lambda: (
                naltrexone_start()
                & (m.last_opioid_maintenance == False)  # noqa: E712
                & (m.days_since_last_opioid >= 7)
                & (m.days_since_last_opioid <= 10),
            ),
        ),
        Clause(
            "inside_14_day_window_after_maintenance",
            lambda: (
                naltrexone_start()
                & (m.last_opioid_maintenance == True)  # noqa: E712
                & (m.days_since_last_opioid >= 7)
                & (m.days_since_last_opioid <= 14),
            ),
        ),
    ),
    references=(NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=lambda findings, context: _explain(findings, context, "which is still possible inside this window"),
)
