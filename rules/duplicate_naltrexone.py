"""Duplicate naltrexone: more than one naltrexone-containing product at once.

Guideline: LDN is one product at 1.5-4.5 mg daily (LDN guidance summary); extended-release naltrexone blocks
opioids for about 28 days after it is given (Vivitrol label, 5.1). A sequestered combination (Embeda) is not a
naltrexone product here: its naltrexone stays sequestered when taken as directed, and its morphine is the opioid
the opioid-use rules see. Each rule unit below carries its When/Then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules.base import Clause, Explanation, Findings, Rule
from rules.common import Condition, join_names, names_of, summary_with_names
from rules.references import LDN_GUIDANCE, VIVITROL_LABEL

if TYPE_CHECKING:
    from service.checker import RuleContext


def several_naltrexone_products(er_injection: bool) -> Condition:
    """The patient fact when at least two naltrexone-containing products are current or proposed."""
    return c.patient << (
        (m.kind == "patient") & (m.naltrexone_product_count >= 2) & (m.naltrexone_er_injection == er_injection)
    )


# What a naltrexone combination is for, so the alert names it (Contrave: chronic weight management).
_PURPOSES = {"bupropion": "naltrexone/bupropion, for chronic weight management"}


def _described(med):
    purpose = next((_PURPOSES[i] for i in med.ingredients if i in _PURPOSES), None)
    return f"{med.name} ({purpose})" if purpose else med.name


def explain(findings: Findings, context: RuleContext) -> Explanation:
    patient = findings[0]["patient"]
    ids = patient["naltrexone_product_ids"]
    names = names_of(context, ids)
    described = [_described(context.medications[i]) for i in ids]
    if patient["naltrexone_er_injection"]:
        rationale = (
            f"{join_names(described, 10)} all contain naltrexone. The extended-release injection blocks opioids for "
            "about 28 days after it is given, so another naltrexone is unlikely to add to the blockade."
        )
        recommendation = (
            "Confirm whether the injection is being discontinued. If the other product is to replace it, note that "
            "the injection's blockade lasts about 28 days after the last dose."
        )
    else:
        rationale = f"{join_names(described, 10)} all contain naltrexone: taking them together duplicates the dose."
        combination = [i for i in ids if any(x in _PURPOSES for x in context.medications[i].ingredients)]
        recommendation = (
            "A combination product already contains naltrexone: confirm with both prescribers whether the other "
            "naltrexone is needed."
            if combination
            else "Keep one naltrexone product: stop the superseded order, or confirm that both are intended."
        )
    return Explanation(
        summary=summary_with_names("More than one naltrexone product: {names}.", names),
        rationale=rationale,
        recommendation=recommendation,
        medications=tuple(ids),
    )


RULE_MODERATE = Rule(
    id="LDN-DUP-001",
    code="duplicate-naltrexone",
    severity="moderate",
    summary="More than one naltrexone-containing product.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="two or more naltrexone-containing products are current or proposed, none an extended-release injection "
    "(a sequestered combination such as Embeda is not counted: its naltrexone is not released as directed)",
    then="a moderate alert naming them all",
    clauses=(Clause("two_or_more", lambda: (several_naltrexone_products(False),)),),
    references=(LDN_GUIDANCE,),
    explain=explain,
)

RULE_HIGH = Rule(
    id="LDN-DUP-002",
    code="duplicate-naltrexone",
    severity="moderate",
    summary="Another naltrexone product alongside extended-release naltrexone injection.",
    guideline="Vivitrol blocks the effects of exogenous opioids for approximately 28 days after administration",
    guideline_source="Vivitrol prescribing information (5.1)",
    when="two or more naltrexone-containing products are current or proposed and one is the extended-release injection",
    then="a moderate alert naming them all",
    clauses=(Clause("two_or_more_with_injection", lambda: (several_naltrexone_products(True),)),),
    references=(LDN_GUIDANCE, VIVITROL_LABEL),
    explain=explain,
)
