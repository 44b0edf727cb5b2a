"""Duplicate naltrexone: more than one naltrexone-containing product at once.

Guideline: LDN is one product at 1.5-4.5 mg daily (LDN guidance summary); extended-release naltrexone blocks
opioids for about a month (Vivitrol label), so another naltrexone on top of it adds nothing but dose.

Each rule unit below carries its When/Then.
"""

from durable.lang import c, m

from rules.base import Clause, Explanation, Rule
from rules.common import join_names, names_of, summary_with_names
from rules.references import LDN_GUIDANCE, VIVITROL_LABEL


def several_naltrexone_products(er_injection):
    """The patient fact when at least two naltrexone-containing products are current or proposed."""
    return c.patient << (
        (m.kind == "patient")
        & (m.naltrexone_product_count >= 2)
        & (m.naltrexone_er_injection == er_injection)
    )


def explain(findings, context):
    ids = findings[0]["patient"]["naltrexone_product_ids"]
    names = names_of(context, ids)
    return Explanation(
        summary=summary_with_names("More than one naltrexone product: {names}.", names),
        rationale=(
            f"{join_names(names, 10)} all contain naltrexone. Taking them together duplicates the opioid "
            "blockade and the dose (an extended-release injection already blocks opioids for about a month); a "
            "second low-dose order is often a dose change whose previous order was not stopped."
        ),
        recommendation="Keep one naltrexone product: stop the superseded order, or confirm that both are intended.",
        medications=tuple(ids),
    )


RULE_MODERATE = Rule(
    id="LDN-DUP-001",
    code="duplicate-naltrexone",
    severity="moderate",
    summary="More than one naltrexone-containing product.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="two or more naltrexone-containing products are current or proposed, none an extended-release injection",
    then="a moderate alert naming them all",
    clauses=(Clause("two_or_more", lambda: (several_naltrexone_products(False),)),),
    references=(LDN_GUIDANCE,),
    explain=explain,
)

RULE_HIGH = Rule(
    id="LDN-DUP-002",
    code="duplicate-naltrexone",
    severity="high",
    summary="Another naltrexone product alongside extended-release naltrexone injection.",
    guideline="a dose of 1.5-4.5 mg daily",
    guideline_source="LDN guidance summary; Vivitrol prescribing information",
    when="two or more naltrexone-containing products are current or proposed and one is the extended-release injection",
    then="a high alert naming them all",
    clauses=(Clause("two_or_more_with_injection", lambda: (several_naltrexone_products(True),)),),
    references=(LDN_GUIDANCE, VIVITROL_LABEL),
    explain=explain,
)
