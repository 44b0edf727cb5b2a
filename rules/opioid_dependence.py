"""Opioid dependence with naltrexone: naltrexone can precipitate withdrawal in opioid-dependent patients.

Guideline: naltrexone "could precipitate withdrawal in opioid-dependent individuals" (LDN guidance summary);
naltrexone is contraindicated in current physiologic opioid dependence, including methadone or buprenorphine
maintenance (naltrexone label).

Each rule unit below carries its When/Then.
"""

from durable.lang import c, m

from rules import definitions as d
from rules.base import Clause, Explanation, Rule
from rules.common import ids_of, is_set, is_unset, join_names, medication_of_this_patient, names_of, patient_on_naltrexone
from rules.references import ICD10CM_F11, LDN_GUIDANCE, NALTREXONE_LABEL, VIVITROL_LABEL


def patient_with(flag):
    """The naltrexone patient fact with one more precomputed flag set."""
    return c.patient << ((m.kind == "patient") & is_set(m.naltrexone_current) & is_set(getattr(m, flag)))


def maintenance_product():
    """A current or proposed OUD maintenance product (methadone, buprenorphine for OUD)."""
    return c.maintenance << medication_of_this_patient(is_set(m.opioid_maintenance) & is_set(m.current))


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
    if not evidence:
        evidence.append("evidence of opioid dependence")
    naltrexone = patient["naltrexone_ids"]
    return Explanation(
        summary="Naltrexone with evidence of opioid dependence or opioid treatment: withdrawal can be precipitated.",
        rationale=(
            "Recorded: " + "; ".join(evidence) + ". In a patient physically dependent on opioids, naltrexone "
            "displaces them from their receptors and can precipitate sudden, severe withdrawal; the naltrexone "
            "label contraindicates it in current physiologic opioid dependence, including methadone or "
            "buprenorphine maintenance. A diagnosis of opioid use disorder or opioid abuse says the patient has "
            "used opioids problematically; it does not by itself say whether they are physically dependent now."
        ),
        recommendation=(
            "Establish whether the patient is physically dependent on opioids now, and do not start or continue "
            "naltrexone while they are. If naltrexone is wanted, coordinate with the prescriber of the opioid "
            "treatment: the patient must first complete an opioid-free interval (at least "
            f"{d.OPIOID_FREE_MIN_DAYS}-{d.OPIOID_FREE_DAYS} days; up to {d.OPIOID_FREE_DAYS_AFTER_MAINTENANCE} days "
            "after methadone or buprenorphine), confirmed by history and urine drug screen, and by a naloxone "
            "challenge when in doubt."
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
    references=(LDN_GUIDANCE, NALTREXONE_LABEL, VIVITROL_LABEL, ICD10CM_F11),
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
                c.patient << (
                    (m.kind == "patient")
                    & is_set(m.naltrexone_current)
                    & is_set(m.dependence_remission)
                    & is_unset(m.dependence_current)
                ),
            ),
        ),
    ),
    references=(NALTREXONE_LABEL,),
    explain=explain_history,
)
