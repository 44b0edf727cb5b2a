"""Unrecognised medications: what the service cannot identify, it cannot check, and it says so.

When  a medication's name and codes match nothing in the vocabulary
Then  an info alert naming it: it was not checked for any rule.
"""

from durable.lang import m

from rules.base import Clause, Explanation, Rule
from rules.common import ids_of, join_names, names_of, summary_with_names
from rules.references import LDN_GUIDANCE


def explain(findings, context):
    ids = ids_of(findings, "m")
    names = [f'"{n}"' for n in names_of(context, ids)]
    hints = [f'"{context.medications[i].name}" resembles {join_names(context.suggestions[i], 3)}'
             for i in ids if context.suggestions.get(i)]
    hint_text = (" Spelling suggests (not used for any check): " + "; ".join(hints) + ".") if hints else ""
    return Explanation(
        summary=summary_with_names("Not recognised, so not checked: {names}.", names),
        rationale=(
            "These medications matched no name or code the service knows, so no rule could check them; an "
            "unrecognised opioid would be missed." + hint_text
        ),
        recommendation=(
            "Review them by hand, or send them with an RxNorm or NDC code or the generic name as written on the "
            "label."
        ),
        medications=tuple(ids),
    )


RULE = Rule(
    id="LDN-UNR-001",
    code="unrecognized-medication",
    severity="info",
    summary="A medication the service could not identify, so it could not be checked.",
    guideline="patients should discuss this treatment with their healthcare provider, especially if they take opioid "
    "medications",
    when="a medication's name and codes match nothing in the vocabulary",
    then="an info alert naming every such medication",
    clauses=(Clause("unrecognised", lambda: ((m.kind == "medication") & (m.recognized == False),)),),  # noqa: E712
    references=(LDN_GUIDANCE,),
    explain=explain,
)
