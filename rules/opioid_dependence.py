"""Opioid dependence with naltrexone: naltrexone can precipitate withdrawal in opioid-dependent patients.

Guideline: naltrexone "could precipitate withdrawal in opioid-dependent individuals" (LDN guidance summary);
naltrexone is contraindicated in current physiologic opioid dependence, including methadone or buprenorphine
maintenance (naltrexone label).

When  a naltrexone product is current or proposed
  and there is evidence of current opioid dependence: an opioid use disorder or dependence diagnosis
      (ICD-10-CM F11.x not in remission, SNOMED CT, or by name), long-term opioid therapy (Z79.891),
      an OUD maintenance product (methadone, buprenorphine for OUD), or the clinician says so
Then  one critical alert listing every piece of evidence.
When  the only such diagnoses are in remission or resolved
Then  an info alert saying so, because remission is not current dependence but is worth knowing.
"""

from durable.lang import c, m

from rules.base import Clause, Explanation, Rule
from rules.common import ids_of, join_names, medication_of_this_patient, names_of, patient_on_naltrexone
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL, VIVITROL_LABEL


def patient_with(flag):
    """The naltrexone patient fact with one more precomputed flag set."""
    return c.patient << ((m.kind == "patient") & (m.naltrexone_current == True) & (getattr(m, flag) == True))  # noqa: E712


def maintenance_product():
    """A current or proposed OUD maintenance product (methadone, buprenorphine for OUD)."""
    return c.maintenance << medication_of_this_patient((m.opioid_maintenance == True) & (m.current == True))  # noqa: E712


def explain_dependence(findings, context):
    """Gather every piece of evidence into one critical alert."""
    patient = context.patient
    evidence = []
    maintenance = ids_of(findings, "maintenance")
    if maintenance:
        evidence.append("OUD maintenance therapy: " + join_names(names_of(context, maintenance), 10))
    if patient["dependence_diagnosis"]:
        evidence.append("diagnosis: " + join_names(patient["dependence_diagnoses"], 10))
    if patient["dependence_stated"]:
        evidence.append("the clinician records current opioid dependence")
    naltrexone = patient["naltrexone_ids"]
    return Explanation(
        summary="Naltrexone can precipitate opioid withdrawal in this opioid-dependent patient.",
        rationale=(
            "Evidence of current opioid dependence (" + "; ".join(evidence) + "). Naltrexone displaces opioids "
            "from their receptors and can precipitate sudden, severe withdrawal in a physically dependent "
            "patient; the label contraindicates it in current opioid dependence, including methadone or "
            "buprenorphine maintenance."
        ),
        recommendation=(
            "Do not start or continue naltrexone while the patient is opioid-dependent. If naltrexone is wanted, "
            "coordinate with the prescriber of the opioid treatment: the patient must first complete an "
            "opioid-free interval (at least 7-10 days; up to 14 days after methadone or buprenorphine), "
            "confirmed by history, urine screen or naloxone challenge."
        ),
        medications=tuple(naltrexone + maintenance),
    )


def explain_history(findings, context):
    """Remission is not current dependence: say what was seen."""
    patient = context.patient
    return Explanation(
        summary="History of opioid use disorder (in remission or resolved) in a patient on naltrexone.",
        rationale=(
            "Recorded: " + join_names(patient["remission_diagnoses"], 10) + ". A condition in remission or "
            "resolved is not current opioid dependence, so the dependence alert was not raised; a relapse "
            "would make naltrexone dangerous (precipitated withdrawal) and lowers opioid tolerance."
        ),
        recommendation=(
            "Confirm the patient is currently opioid-free before starting naltrexone, and make sure they know "
            "that opioids will not work while they take it and that their tolerance is reduced after stopping."
        ),
        medications=tuple(patient["naltrexone_ids"]),
    )


RULE = Rule(
    id="LDN-DEP-001",
    code="opioid-dependence",
    severity="critical",
    summary="Naltrexone in a patient with evidence of current opioid dependence.",
    guideline="naltrexone blocks opioid effects and could precipitate withdrawal in opioid-dependent individuals",
    when="a naltrexone product is current or proposed and there is an opioid dependence or use disorder diagnosis "
    "(not in remission), long-term opioid therapy (Z79.891), a current OUD maintenance product (methadone, "
    "buprenorphine for OUD), or opioid_dependence is true",
    then="one critical alert listing every piece of evidence",
    clauses=(
        Clause("dependence_diagnosis", lambda: (patient_with("dependence_diagnosis"),)),
        Clause("dependence_stated", lambda: (patient_with("dependence_stated"),)),
        Clause("maintenance_product", lambda: (patient_on_naltrexone(), maintenance_product())),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL, VIVITROL_LABEL),
    explain=explain_dependence,
)

HISTORY_RULE = Rule(
    id="LDN-DEP-002",
    code="opioid-dependence-history",
    severity="info",
    summary="Opioid use disorder in remission or resolved, in a patient on naltrexone.",
    guideline="naltrexone could precipitate withdrawal in opioid-dependent individuals",
    when="a naltrexone product is current or proposed, an opioid dependence diagnosis is in remission or resolved, "
    "and there is no evidence of current dependence",
    then="an info alert naming the diagnosis (remission is not current dependence)",
    clauses=(
        Clause(
            "remission_only",
            lambda: (
                (m.kind == "patient")
                & (m.naltrexone_current == True)  # noqa: E712
                & (m.dependence_remission == True)  # noqa: E712
                & (m.dependence_current == False)  # noqa: E712
            ,),
        ),
    ),
    references=(NALTREXONE_LABEL,),
    explain=explain_history,
)
