"""An upcoming procedure in a patient taking naltrexone: opioid analgesia will be blocked, so plan ahead.

Guideline: naltrexone blocks opioid effects (LDN guidance summary); in an emergency requiring analgesia, prefer
regional anaesthesia, non-opioid analgesia or general anaesthesia, and if an opioid is needed use a rapidly
acting one, titrated, under continuous monitoring (naltrexone label).

When  a naltrexone product is current or proposed and a procedure is planned on or after as_of (or undated)
Then  moderate (procedure-planning).
"""

from durable.lang import m

from rules.base import Clause, Explanation, Rule
from rules.common import join_names, summary_with_names
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL


def explain(findings, context):
    patient = findings[0]["m"]
    return Explanation(
        summary=summary_with_names("Procedure planned for a patient on naltrexone: {names}.", patient["procedures"]),
        rationale=(
            f"Planned: {join_names(patient['procedures'], 10)}. Naltrexone blocks opioid analgesics, so usual "
            "peri-procedural opioid doses may not work, and attempts to overcome the blockade risk overdose."
        ),
        recommendation=(
            "Tell the surgical and anaesthesia teams about naltrexone in advance and agree whether and when to "
            "hold it. Plan regional anaesthesia or non-opioid analgesia; if an opioid is needed, use a rapidly "
            "acting one, titrated, under continuous monitoring."
        ),
        medications=tuple(patient["naltrexone_ids"]),
    )


RULE = Rule(
    id="LDN-PRO-001",
    code="procedure-planning",
    severity="moderate",
    summary="A planned procedure in a patient taking naltrexone: plan analgesia without relying on opioids.",
    guideline="naltrexone blocks opioid effects",
    guideline_source="LDN guidance summary; naltrexone prescribing information",
    when="a naltrexone product is current or proposed and the patient has a procedure dated on or after as_of, or undated",
    then="a moderate alert recommending an analgesia plan",
    clauses=(
        Clause(
            "procedure_ahead",
            lambda: ((m.kind == "patient") & (m.naltrexone_current == True) & (m.upcoming_procedure == True),),  # noqa: E712
        ),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL),
    explain=explain,
)
