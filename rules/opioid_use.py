"""Opioid use with naltrexone: naltrexone blocks opioid analgesics, antitussives, antidiarrheals and maintenance opioids.

Guideline: "naltrexone blocks opioid effects" (LDN guidance summary); patients "may not benefit from opioid
containing medicines, such as cough and cold preparations, antidiarrheal preparations, and opioid analgesics"
(naltrexone label).
The rule unit below carries its When/Then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules.base import Clause, Explain, Explanation, Findings, Rule
from rules.common import (
    Condition,
    ids_of,
    is_set,
    is_unset,
    join_names,
    medication_of_this_patient,
    names_of,
    summary_with_names,
)
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL, PERIOPERATIVE_NALTREXONE_REVIEW, VIVITROL_LABEL

if TYPE_CHECKING:
    from service.checker import RuleContext


def current_opioid() -> Condition:
    """A current or proposed opioid agonist (any use: analgesic, cough, antidiarrheal, maintenance)."""
    return c.opioid << medication_of_this_patient(is_set(m.opioid_agonist) & is_set(m.current))


def analgesic_opioid(is_analgesic: bool) -> Condition:
    """A current or proposed opioid, by whether it is an analgesic or maintenance opioid (what the labels
    contraindicate) or another opioid (cough, antidiarrheal)."""
    kind = is_set(m.opioid_analgesic) if is_analgesic else is_unset(m.opioid_analgesic)
    return c.opioid << medication_of_this_patient(is_set(m.opioid_agonist) & is_set(m.current) & kind)


def naltrexone_patient(full_dose: bool) -> Condition:
    """The patient on naltrexone, by whether any of it is full-dose (standard-dose tablets or the injection)."""
    return c.patient << ((m.kind == "patient") & is_set(m.naltrexone_current) & (m.naltrexone_full_dose == full_dose))


def _explain(full_dose: bool) -> Explain:
    def explain(findings: Findings, context: RuleContext) -> Explanation:
        """One alert for every opioid found alongside naltrexone."""
        opioids = ids_of(findings, "opioid")
        naltrexone = context.patient["naltrexone_ids"]
        opioid_names = names_of(context, opioids)
        injection = context.patient["naltrexone_er_injection"]
        if full_dose:
            extent = (
                "The naltrexone and Vivitrol labels contraindicate naltrexone in patients receiving opioid "
                "analgesics: the patient may not benefit from opioid analgesics, cough and cold products or "
                "antidiarrheals, and patients should be told of the serious consequences of trying to overcome "
                "the blockade."
            )
        else:
            extent = (
                "Naltrexone blocks opioid effects (guidance summary); we found no study of how far low-dose "
                "naltrexone blocks them, so what follows is taken from the labels of full-dose naltrexone: the patient "
                "may not benefit from opioid analgesics, cough and cold products or antidiarrheals, and trying to "
                "overcome the blockade has serious consequences."
            )
        maintenance = any(context.medications[i].has("opioid_maintenance") for i in opioids)
        if maintenance:
            plan = (
                "For a patient on methadone or buprenorphine treatment, it is the naltrexone that needs "
                "reconsidering, with the prescriber of the opioid treatment (see the dependence alert)."
            )
        elif injection:
            plan = (
                "The extended-release injection blocks opioids for about 28 days after it is given and cannot be "
                "stopped: use regional or non-opioid analgesia, and if opioids are required, monitor the patient "
                "closely, by trained personnel in a setting equipped for CPR (Vivitrol label)."
            )
        else:
            hold = (
                "the sources we found for stopping oral naltrexone before opioid therapy disagree, from 24 hours to "
                "several days"
                if full_dose
                else "we found no source that gives a hold time for low-dose naltrexone"
            )
            plan = (
                "Use a non-opioid alternative for the opioid's indication, or have the prescriber decide whether to "
                f"stop the naltrexone before opioid therapy ({hold}). If an opioid is unavoidable, as in an "
                "emergency, more than usual may be needed and respiratory depression may be deeper and more "
                "prolonged (label, for fully blocking doses): monitor closely."
            )
        return Explanation(
            summary=summary_with_names("Naltrexone blocks the opioid effect of {names}.", opioid_names),
            rationale=(
                f"{join_names(names_of(context, naltrexone))} is an opioid antagonist and "
                f"{join_names(opioid_names, 10)} contains an opioid. {extent} In a patient physically dependent on "
                "the opioid, naltrexone can precipitate withdrawal."
            ),
            recommendation="Do not combine without a plan. " + plan,
            medications=tuple(naltrexone + opioids),
        )

    return explain


RULE = Rule(
    id="LDN-OPI-001",
    code="opioid-use",
    severity="high",
    summary="A current or proposed opioid alongside naltrexone.",
    guideline="naltrexone blocks opioid effects",
    when="a naltrexone product that blocks opioids (not one with sequestered naltrexone) is current or proposed, and "
    "an opioid agonist, partial agonist or mixed agonist-antagonist (analgesic, cough, antidiarrheal or "
    "maintenance) is current or proposed; unless the naltrexone is full-dose and the opioid an analgesic or "
    "maintenance opioid (the critical rule)",
    then="one high alert naming the naltrexone product(s) and every opioid; stopped or completed medications do not "
    "count",
    clauses=(
        Clause("opioid_with_low_dose_naltrexone", lambda: (naltrexone_patient(False), current_opioid())),
        Clause("other_opioid_with_full_dose_naltrexone", lambda: (naltrexone_patient(True), analgesic_opioid(False))),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL, PERIOPERATIVE_NALTREXONE_REVIEW),
    explain=_explain(full_dose=False),
)

RULE_FULL_DOSE = Rule(
    id="LDN-OPI-003",
    code="opioid-use",
    severity="critical",
    summary="An opioid analgesic or maintenance opioid alongside full-dose naltrexone (tablets beyond LDN, injection).",
    guideline="naltrexone is contraindicated in patients receiving opioid analgesics",
    guideline_source="Naltrexone tablets and Vivitrol prescribing information",
    when="full-dose naltrexone (commercial oral naltrexone beyond low-dose use, or an extended-release injection "
    "given within its dosing interval) is current or proposed, and an opioid analgesic or maintenance opioid is "
    "current or proposed",
    then="one critical alert naming the naltrexone product(s) and every opioid",
    clauses=(
        Clause("analgesic_with_full_dose_naltrexone", lambda: (naltrexone_patient(True), analgesic_opioid(True))),
    ),
    references=(NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=_explain(full_dose=True),
)
