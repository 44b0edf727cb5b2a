"""An upcoming procedure in a patient taking naltrexone: opioid analgesia will be blocked, so plan ahead.

Guideline: naltrexone blocks opioid effects (LDN guidance summary); in an emergency requiring analgesia, prefer
regional anaesthesia, non-opioid analgesia or general anaesthesia, and if an opioid is needed use a rapidly
acting one, titrated, under continuous monitoring (naltrexone label).

Each rule unit below carries its When/Then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules.base import Clause, Explanation, Findings, Rule
from rules.common import is_set, join_names, summary_with_names
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL, PERIOPERATIVE_NALTREXONE_REVIEW, VIVITROL_LABEL

if TYPE_CHECKING:
    from service.checker import RuleContext


def explain(findings: Findings, context: RuleContext) -> Explanation:
    patient = findings[0]["patient"]
    return Explanation(
        summary=summary_with_names("Procedure planned for a patient on naltrexone: {names}.", patient["procedures"]),
        rationale=(
            f"Planned: {join_names(patient['procedures'], 10)}. Naltrexone blocks opioid analgesics, so usual "
            "peri-procedural opioid doses may not work; in an emergency more opioid may be needed and respiratory "
            "depression may be deeper and more prolonged (the label's statement for fully blocking doses; we found no "
            "study of it in low-dose naltrexone). A scoping review found no study or guideline on naltrexone for "
            "chronic pain around surgery; the guideline documents it found recommend stopping naltrexone before "
            "surgery, irrespective of dose, without a systematic review behind them, and the secondary sources we found disagree on "
            "how long before."
        ),
        recommendation=(
            "Tell the surgical and anaesthesia teams about naltrexone in advance. "
            + (
                "The extended-release injection blocks opioids for about 28 days after it is given and cannot be "
                "held: plan the procedure's analgesia around it. "
                if patient["naltrexone_er_injection"]
                else "Whether and when to hold it, and when to restart, is the prescriber's decision with the "
                "anaesthesia team: we found no source that gives a number of hours for low-dose naltrexone, and the "
                "sources we found for oral naltrexone disagree (24 hours to several days). "
            )
            + "Plan regional or non-opioid analgesia; if opioids are needed, monitor closely. After naltrexone is "
            "stopped, the patient may respond to lower opioid doses than before (label)."
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
    then="a moderate alert recommending an analgesia plan, and saying that we found no source that sets a hold time for LDN",
    clauses=(
        Clause(
            "procedure_ahead",
            lambda: (
                c.patient << ((m.kind == "patient") & is_set(m.naltrexone_current) & is_set(m.upcoming_procedure)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL, VIVITROL_LABEL, PERIOPERATIVE_NALTREXONE_REVIEW),
    explain=explain,
)
