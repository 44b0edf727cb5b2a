"""The opioid-free interval before starting naltrexone: 7-10 days, or 14 after methadone or buprenorphine.

Guideline: patients should be opioid-free for a minimum of 7-10 days before starting naltrexone (naltrexone
tablets label); patients transitioning from buprenorphine or methadone "may be vulnerable to precipitation of
withdrawal symptoms for as long as two weeks" (extended-release naltrexone label). The interval runs from the
last opioid use to the naltrexone start, a planned start date included (rules.definitions). Each rule unit below
carries its When/Then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules import definitions as d
from rules.base import Clause, Explanation, Findings, Rule
from rules.common import Condition, is_set, is_unset
from rules.references import NALTREXONE_LABEL, VIVITROL_LABEL

if TYPE_CHECKING:
    from service.checker import RuleContext


def naltrexone_start() -> Condition:
    """The patient fact of a naltrexone start with a known last opioid use."""
    return (m.kind == "patient") & is_set(m.naltrexone_start)


def _explain(findings: Findings, context: RuleContext) -> Explanation:
    patient = findings[0]["start"]
    days = patient["days_since_last_opioid"]
    window = d.opioid_free_days_needed(patient["last_opioid_maintenance"])
    source = patient["last_opioid_source"]
    if source == "stated":
        when = f"The last opioid use was recorded as {patient['last_opioid_date']}"
    else:
        when = (
            f"{context.medications[source].name} ended on {patient['last_opioid_date']} (the order's end "
            "date, taken as the last use; confirm with the patient)"
        )
    planned = patient["start_date"] != context.as_of.isoformat()
    start = f"the planned start on {patient['start_date']}" if planned else f"the start ({patient['start_date']})"
    return Explanation(
        summary=(
            f"Naltrexone start {days} day(s) after the last opioid use; "
            + (
                "Vivitrol label: up to two weeks after methadone or buprenorphine."
                if patient["last_opioid_maintenance"]
                else f"the label advises {d.OPIOID_FREE_MIN_DAYS}-{d.OPIOID_FREE_DAYS} opioid-free days."
            )
        ),
        rationale=(
            f"{when}, {days} day(s) before {start}. In a patient physically dependent on opioids, naltrexone can "
            "precipitate withdrawal, which the Vivitrol label says may be severe enough to require "
            "hospitalization. The naltrexone label "
            f"recommends a minimum of {d.OPIOID_FREE_MIN_DAYS} to {d.OPIOID_FREE_DAYS} opioid-free days for "
            "patients previously dependent on short-acting opioids (and counts tramadol as an opioid); this service "
            "applies it "
            f"to any recent opioid use, because an order list cannot show physical dependence and an order's end date "
            f"only stands in for the last dose, and uses {d.OPIOID_FREE_DAYS}. The Vivitrol label warns that after "
            "buprenorphine or methadone withdrawal can be precipitated for as long as two weeks; this service uses "
            f"{d.OPIOID_FREE_DAYS_AFTER_MAINTENANCE} days after any buprenorphine or methadone product (the label "
            "speaks of patients transitioning from buprenorphine or methadone treatment: a conservative reading)."
        ),
        recommendation=(
            (
                f"The label's {d.OPIOID_FREE_MIN_DAYS}-{d.OPIOID_FREE_DAYS} day minimum is met at its lower end; this "
                f"service prefers {d.OPIOID_FREE_DAYS} days. Confirm the opioid-free state before the first dose, "
                f"or delay to day {d.OPIOID_FREE_DAYS} if physical dependence is possible"
                if not patient["last_opioid_maintenance"] and days >= d.OPIOID_FREE_MIN_DAYS
                else f"Start only after at least {window} opioid-free days, and confirm the opioid-free state before "
                "the first dose"
            )
            + " (history and urine drug screen; the label's naloxone challenge when in doubt). A positive urine "
            "opioid screen is itself a contraindication."
        ),
        medications=tuple(patient["naltrexone_start_ids"]),
    )


RULE_CRITICAL = Rule(
    id="LDN-OFI-001",
    code="opioid-free-interval",
    severity="critical",
    summary="Naltrexone started less than 7 days after the last opioid use.",
    guideline="an opioid-free duration of a minimum of 7-10 days is recommended, to avoid precipitation of opioid "
    "withdrawal",
    guideline_source="Vivitrol prescribing information (2.1); the naltrexone tablets label gives the same interval "
    "for patients previously dependent on short-acting opioids",
    when="naltrexone is being started (proposed, with no current naltrexone) and the last opioid use was fewer than "
    "7 days before the start (its planned start_date when in the future, otherwise as_of)",
    then="a critical alert: delay the start and confirm the opioid-free state (applied to any recent opioid use, "
    "whether or not dependence is recorded: a conservative choice)",
    clauses=(
        Clause(
            "under_minimum_interval",
            lambda: (c.start << (naltrexone_start() & (m.days_since_last_opioid < d.OPIOID_FREE_MIN_DAYS)),),
        ),
    ),
    references=(NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=_explain,
)

RULE_MODERATE = Rule(
    id="LDN-OFI-003",
    code="opioid-free-interval",
    severity="moderate",
    summary="Naltrexone started 7-9 days after the last opioid use, inside the label's 7-10 day interval.",
    guideline="an opioid-free interval of a minimum of 7 to 10 days is recommended for patients previously "
    "dependent on short-acting opioids",
    guideline_source="Naltrexone hydrochloride tablets, prescribing information",
    when="naltrexone is being started, the last opioid was not methadone or buprenorphine, and the last opioid use "
    "was at least 7 and fewer than 10 days before the start",
    then="a moderate alert: the label's minimum is met at its lower end; confirm the opioid-free state",
    clauses=(
        Clause(
            "inside_interval",
            lambda: (
                c.start
                << (
                    naltrexone_start()
                    & is_unset(m.last_opioid_maintenance)
                    & (m.days_since_last_opioid >= d.OPIOID_FREE_MIN_DAYS)
                    & (m.days_since_last_opioid < d.OPIOID_FREE_DAYS)
                ),
            ),
        ),
    ),
    references=(NALTREXONE_LABEL,),
    explain=_explain,
)

RULE_HIGH = Rule(
    id="LDN-OFI-002",
    code="opioid-free-interval",
    severity="high",
    summary="Naltrexone started within two weeks of methadone or buprenorphine.",
    guideline="patients transitioning from buprenorphine or methadone may be vulnerable to precipitation of "
    "withdrawal symptoms for as long as two weeks",
    guideline_source="Vivitrol prescribing information",
    when="naltrexone is being started, the last opioid was methadone or buprenorphine, and it was at least 7 and "
    "fewer than 14 days before the start",
    then="a high alert: delay the start until two weeks have passed and confirm the opioid-free state",
    clauses=(
        Clause(
            "inside_interval_after_maintenance",
            lambda: (
                c.start
                << (
                    naltrexone_start()
                    & is_set(m.last_opioid_maintenance)
                    & (m.days_since_last_opioid >= d.OPIOID_FREE_MIN_DAYS)
                    & (m.days_since_last_opioid < d.OPIOID_FREE_DAYS_AFTER_MAINTENANCE)
                ),
            ),
        ),
    ),
    references=(NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=_explain,
)
