"""Opioid dependence with naltrexone: naltrexone can precipitate withdrawal in opioid-dependent patients.

Guideline: naltrexone "could precipitate withdrawal in opioid-dependent individuals" (LDN guidance summary);
naltrexone is contraindicated in current physiologic opioid dependence, including methadone or buprenorphine
maintenance (naltrexone label).

Each rule unit below carries its When/Then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules import definitions as d
from rules.base import Clause, Explanation, Findings, Rule
from rules.common import (
    Condition,
    ids_of,
    is_set,
    is_unset,
    join_names,
    medication_of_this_patient,
    names_of,
    patient_on_naltrexone,
)
from rules.references import ICD10CM_F11, LDN_GUIDANCE, NALTREXONE_LABEL, VIVITROL_LABEL

if TYPE_CHECKING:
    from service.checker import RuleContext


def patient_with(flag: str) -> Condition:
    """The naltrexone patient fact with one more precomputed flag set."""
    return c.patient << ((m.kind == "patient") & is_set(m.naltrexone_current) & is_set(getattr(m, flag)))


def diagnosed_patient(flag: str) -> Condition:
    """The naltrexone patient with a diagnosis flag set, unless naltrexone already treats their opioid use
    disorder (established injection or standard-dose tablets: the diagnosis is then its indication)."""
    return c.patient << (
        (m.kind == "patient")
        & is_set(m.naltrexone_current)
        & is_set(getattr(m, flag))
        & is_unset(m.naltrexone_treats_oud)
    )


def maintenance_product() -> Condition:
    """A current or proposed OUD maintenance product (methadone, buprenorphine for OUD)."""
    return c.maintenance << medication_of_this_patient(is_set(m.opioid_maintenance) & is_set(m.current))


def _evidence(findings, context):
    patient = context.patient
    evidence = []
    maintenance = ids_of(findings, "maintenance")
    if maintenance:
        evidence.append(
            join_names(names_of(context, maintenance), 10) + " (an opioid used for OUD maintenance; the "
            "label contraindicates naltrexone with it, for OUD or for pain)"
        )
    if patient["dependence_diagnosis"]:
        evidence.append("diagnosis: " + join_names(patient["dependence_diagnoses"], 10))
    if patient["use_disorder_diagnosis"]:
        evidence.append("use-disorder diagnosis: " + join_names(patient["use_disorder_diagnoses"], 10))
    if patient["dependence_stated"]:
        evidence.append("the clinician records current opioid dependence")
    return evidence or ["evidence of opioid dependence"], maintenance


_INTERVAL = (
    f"the patient must first complete an opioid-free interval (the label's minimum of {d.OPIOID_FREE_MIN_DAYS}-"
    f"{d.OPIOID_FREE_DAYS} days; up to two weeks after methadone or buprenorphine, Vivitrol label), confirmed by "
    "history and a urine drug screen, and by a naloxone challenge when in doubt"
)


def explain_dependence(findings: Findings, context: RuleContext) -> Explanation:
    """Gather every piece of evidence into one critical alert."""
    evidence, maintenance = _evidence(findings, context)
    naltrexone = context.patient["naltrexone_ids"]
    return Explanation(
        summary="Naltrexone with evidence of opioid dependence or opioid treatment: withdrawal can be precipitated.",
        rationale=(
            "Recorded: " + "; ".join(evidence) + ". The naltrexone label contraindicates it in patients currently "
            "dependent on opioids, including those maintained on methadone or buprenorphine, and in patients "
            "receiving opioid analgesics; in a dependent patient it can precipitate withdrawal that may be severe "
            "enough to require hospitalization (Vivitrol label)."
            + (
                " An F11 diagnosis code records a use disorder or dependence as coded; it does not by itself say "
                "whether the patient is physically dependent now."
                if context.patient["dependence_diagnosis"]
                else ""
            )
        ),
        recommendation=(
            "Establish whether the patient is physically dependent on opioids now, and do not start or continue "
            "naltrexone while they are. If naltrexone is wanted, coordinate with the prescriber of the opioid "
            "treatment: " + _INTERVAL + "."
        ),
        medications=tuple(naltrexone + maintenance),
    )


def explain_use_disorder(findings: Findings, context: RuleContext) -> Explanation:
    """Opioid abuse or a mild use disorder: establish current use and dependence."""
    evidence, _ = _evidence(findings, context)
    return Explanation(
        summary="Opioid use disorder recorded in a patient on naltrexone: establish current opioid use.",
        rationale=(
            "Recorded: " + "; ".join(evidence) + ". Opioid abuse (ICD-10-CM F11.1-, which includes mild opioid use "
            "disorder) is coded apart from opioid dependence and does not say the patient is physically dependent. "
            "If they are using opioids now, naltrexone blocks them and, in a dependent patient, can precipitate "
            "withdrawal."
        ),
        recommendation=(
            "Establish current opioid use and physical dependence before starting or continuing naltrexone; if "
            "they are dependent, " + _INTERVAL + "."
        ),
        medications=tuple(context.patient["naltrexone_ids"]),
    )


def explain_history(findings: Findings, context: RuleContext) -> Explanation:
    """Remission is not current dependence: say what was seen."""
    patient = context.patient
    return Explanation(
        summary="History of opioid use disorder (in remission or resolved) in a patient on naltrexone.",
        rationale=(
            "Recorded: " + join_names(patient["remission_diagnoses"], 10) + ". A condition in remission or "
            "resolved is not current opioid dependence, so the dependence alert was not raised. If the patient "
            "relapses while on naltrexone, trying to overcome the blockade is dangerous and, if they are dependent, "
            "withdrawal can be precipitated; after naltrexone stops, they may respond to lower opioid doses than "
            "before, and previously tolerated doses can be life-threatening (naltrexone label)."
        ),
        recommendation=(
            "Confirm the patient is currently opioid-free before starting naltrexone, asking specifically about "
            "methadone or buprenorphine maintenance, including from a treatment programme (which hospital lists "
            "may not show). Make sure they know that opioids may not work as expected while they take it, and that "
            "their tolerance may be reduced after stopping."
        ),
        medications=tuple(patient["naltrexone_ids"]),
    )


RULE = Rule(
    id="LDN-DEP-001",
    code="opioid-dependence",
    severity="critical",
    summary="Naltrexone in a patient with evidence of current opioid dependence.",
    guideline="naltrexone blocks opioid effects and could precipitate withdrawal in opioid-dependent individuals",
    when="a naltrexone product is current or proposed and there is an opioid dependence diagnosis (not abuse or "
    "mild use disorder, not in remission), long-term opioid therapy (Z79.891), a current OUD maintenance product "
    "(methadone, buprenorphine for OUD), or opioid_dependence is true; a diagnosis alone does not count when "
    "established full-dose naltrexone (injection or standard-dose tablets) already treats the disorder",
    then="one critical alert listing every piece of evidence",
    clauses=(
        Clause("dependence_diagnosis", lambda: (diagnosed_patient("dependence_diagnosis"),)),
        Clause("dependence_stated", lambda: (patient_with("dependence_stated"),)),
        Clause("maintenance_product", lambda: (patient_on_naltrexone(), maintenance_product())),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL, VIVITROL_LABEL, ICD10CM_F11),
    explain=explain_dependence,
)

USE_DISORDER_RULE = Rule(
    id="LDN-DEP-003",
    code="opioid-use-disorder",
    severity="high",
    summary="Opioid abuse or mild opioid use disorder recorded, in a patient on naltrexone.",
    guideline="naltrexone blocks opioid effects and could precipitate withdrawal in opioid-dependent individuals",
    when="a naltrexone product is current or proposed, an opioid abuse or mild use disorder diagnosis (F11.1x) is "
    "recorded, there is no other evidence of dependence, and established full-dose naltrexone does not already "
    "treat it",
    then="a high alert: establish current opioid use and physical dependence",
    clauses=(
        Clause(
            "use_disorder_only",
            lambda: (
                c.patient
                << (
                    (m.kind == "patient")
                    & is_set(m.naltrexone_current)
                    & is_set(m.use_disorder_diagnosis)
                    & is_unset(m.dependence_diagnosis)
                    & is_unset(m.dependence_stated)
                    & is_unset(m.naltrexone_treats_oud)
                ),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL, ICD10CM_F11),
    explain=explain_use_disorder,
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
                c.patient
                << (
                    (m.kind == "patient")
                    & is_set(m.naltrexone_current)
                    & is_set(m.dependence_remission)
                    & is_unset(m.dependence_current)
                ),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL),
    explain=explain_history,
)
