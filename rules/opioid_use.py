"""Opioid use with naltrexone: naltrexone blocks opioid analgesics, antitussives, antidiarrheals and maintenance opioids.

Guideline: "naltrexone blocks opioid effects" (LDN guidance summary); patients "may not benefit from opioid
containing medicines, such as cough and cold preparations, antidiarrheal preparations, and opioid analgesics"
(naltrexone label).
The rule unit below carries its When/Then.
"""

from durable.lang import c, m

from rules.base import Clause, Explanation, Rule
from rules.common import (
    ids_of,
    is_set,
    join_names,
    medication_of_this_patient,
    names_of,
    patient_on_naltrexone,
    summary_with_names,
)
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL, PERIOPERATIVE_NALTREXONE_REVIEW


def current_opioid():
    """A current or proposed opioid agonist (any use: analgesic, cough, antidiarrheal, maintenance)."""
    return c.opioid << medication_of_this_patient(is_set(m.opioid_agonist) & is_set(m.current))


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
            "attempts to overcome the blockade with larger opioid doses risk a fatal overdose, and in a patient "
            "physically dependent on the opioid, naltrexone can precipitate withdrawal."
        ),
        recommendation=(
            "Do not combine without a plan: use a non-opioid alternative for the opioid's indication, or have the "
            "prescriber decide whether to stop the naltrexone before opioid therapy (no source gives a hold time "
            "for low-dose naltrexone). If an opioid is unavoidable, as in an emergency, expect to need more than "
            "usual and monitor closely: respiratory depression may be deeper and more prolonged."
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
    references=(LDN_GUIDANCE, NALTREXONE_LABEL, PERIOPERATIVE_NALTREXONE_REVIEW),
    explain=explain,
)
