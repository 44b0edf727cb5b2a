"""Opioid use with naltrexone: naltrexone blocks opioid analgesics, antitussives, antidiarrheals and maintenance opioids.

Guideline: "naltrexone blocks opioid effects" (LDN guidance summary); patients "may not benefit from opioid
containing medicines, such as cough and cold preparations, antidiarrheal preparations, and opioid analgesics"
(naltrexone label).

When  a naltrexone product that blocks opioids is current or proposed
  and an opioid agonist, partial agonist or mixed agonist-antagonist is current or proposed
Then  one high alert naming the naltrexone product(s) and every such opioid.
"""

from durable.lang import c, m

from rules.base import Clause, Explanation, Rule
from rules.common import ids_of, join_names, medication_of_this_patient, names_of, patient_on_naltrexone, summary_with_names
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL


def current_opioid():
    """A current or proposed opioid agonist (any use: analgesic, cough, antidiarrheal, maintenance)."""
    return c.opioid << medication_of_this_patient((m.opioid_agonist == True) & (m.current == True))  # noqa: E712


def explain(findings, context):
    """One alert for every opioid found alongside naltrexone."""
    opioids = ids_of(findings, "opioid")
    naltrexone = context.patient["naltrexone_ids"]
    opioid_names = names_of(context, opioids)
    return Explanation(
        summary=summary_with_names("Naltrexone blocks the opioid effect of {names}.", opioid_names),
        rationale=(
            f"{join_names(names_of(context, naltrexone))} is an opioid antagonist and "
            f"{join_names(opioid_names, 10)} contains an opioid. Naltrexone blocks opioid effects, so the patient "
            "may not benefit from opioid analgesics, opioid cough and cold products or opioid antidiarrheals; "
            "trying to overcome the blockade with larger opioid doses risks a fatal overdose, and in a patient "
            "who is physically dependent on the opioid, naltrexone can precipitate withdrawal."
        ),
        recommendation=(
            "Do not combine without a plan: use a non-opioid alternative for the opioid's indication, or have the "
            "prescriber decide whether to stop the naltrexone before opioid therapy. If an opioid is unavoidable "
            "(for example in an emergency), use a rapidly acting opioid, titrated to effect, under continuous "
            "monitoring."
        ),
        medications=tuple(naltrexone + opioids),
    )


RULE = Rule(
    id="LDN-OPI-001",
    code="opioid-use",
    severity="high",
    summary="A current or proposed opioid alongside a naltrexone product.",
    guideline="naltrexone blocks opioid effects",
    when="a naltrexone product (not one with sequestered naltrexone) is current or proposed, and an opioid agonist, "
    "partial agonist or mixed agonist-antagonist (analgesic, cough, antidiarrheal or maintenance) is current or proposed",
    then="one high alert naming the naltrexone product(s) and every opioid; stopped or completed medications do not count",
    clauses=(Clause("opioid_with_naltrexone", lambda: (patient_on_naltrexone(), current_opioid())),),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL),
    explain=explain,
)
