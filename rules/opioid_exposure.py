"""Medications that imply opioid therapy, and a second opioid antagonist, alongside naltrexone.

Guideline: naltrexone blocks opioid effects (LDN guidance summary). Methylnaltrexone (Relistor), naloxegol
(Movantik), naldemedine (Symproic) and alvimopan (Entereg) are given to patients taking opioids, and lofexidine
(Lucemyra) for opioid withdrawal (their labels): with naltrexone they are not opioid use, but a reason to ask.
Samidorphan (Lybalvi) is itself an opioid antagonist whose label contraindicates opioid use and withdrawal.
Each rule unit below carries its When/Then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules.base import Clause, Explanation, Findings, Rule
from rules.common import (
    ids_of,
    is_set,
    medication_of_this_patient,
    names_of,
    patient_on_naltrexone,
    summary_with_names,
)
from rules.references import LDN_GUIDANCE, LYBALVI_LABEL, PERIPHERAL_ANTAGONIST_LABELS

if TYPE_CHECKING:
    from service.checker import RuleContext

# What each medication that implies opioid exposure is for, as its label states it.
PURPOSES = {
    "methylnaltrexone": "treats opioid-induced constipation in patients taking opioids",
    "naloxegol": "treats opioid-induced constipation in patients taking opioids",
    "naldemedine": "treats opioid-induced constipation in patients taking opioids",
    "alvimopan": "is given around bowel resection surgery to speed the recovery of bowel function in patients "
    "receiving opioids for postoperative pain",
    "lofexidine": "mitigates opioid withdrawal symptoms to facilitate abrupt opioid discontinuation (for up to 14 "
    "days)",
}
PERIPHERAL_ANTAGONISTS = frozenset({"methylnaltrexone", "naloxegol", "naldemedine", "alvimopan"})


def _purpose(med):
    found = [PURPOSES[i] for i in med.ingredients if i in PURPOSES]
    return f"{med.name} {found[0]}" if found else f"{med.name} implies opioid treatment"


def explain_signal(findings: Findings, context: RuleContext) -> Explanation:
    ids = ids_of(findings, "signal")
    names = names_of(context, ids)
    meds = [context.medications[i] for i in ids]
    withdrawal = any("lofexidine" in med.ingredients for med in meds)
    antagonist = any(PERIPHERAL_ANTAGONISTS & set(med.ingredients) for med in meds)
    implied = (
        "suggests that opioids were stopped recently, so an opioid-free interval may not be complete"
        if withdrawal and len(meds) == 1
        else "suggests that the patient takes or recently took opioids"
    )
    interaction = (
        " It is itself an opioid antagonist, and its monographs advise avoiding other opioid antagonists "
        "(additive effects, risk of opioid withdrawal)."
        if antagonist
        else ""
    )
    return Explanation(
        summary=summary_with_names(
            "{names} suggests "
            + ("opioid use or withdrawal" if withdrawal else "opioid use")
            + " in a patient on naltrexone.",
            names,
        ),
        rationale=(
            "; ".join(_purpose(med) for med in meds) + f". It is not an opioid, but it {implied}.{interaction} "
            "Naltrexone blocks opioids and can precipitate withdrawal in a patient physically dependent on them."
        ),
        recommendation=(
            "Ask about current and recent opioid use (including from other prescribers) before starting or "
            "continuing naltrexone, and confirm the opioid-free interval before a naltrexone start."
            + (
                " If no opioid is used, review whether the constipation medicine is still needed: its monographs "
                "say to stop it when opioid therapy stops."
                if antagonist
                else ""
            )
            + (
                " Lofexidine is given for up to 14 days after opioids stop: its start date suggests roughly when they stopped."
                if withdrawal
                else ""
            )
        ),
        medications=tuple(context.patient["naltrexone_ids"] + ids),
    )


def explain_samidorphan(findings: Findings, context: RuleContext) -> Explanation:
    ids = ids_of(findings, "samidorphan")
    return Explanation(
        summary=summary_with_names(
            "Two opioid antagonists: naltrexone with samidorphan ({names}).", names_of(context, ids)
        ),
        rationale=(
            "Samidorphan, in olanzapine/samidorphan, is an opioid antagonist like naltrexone: both block opioid "
            "receptors, and no source we found addresses taking them together. Lybalvi is contraindicated in "
            "patients using opioids or in acute opioid withdrawal."
        ),
        recommendation="Confirm with both prescribers that both are intended; no source we found addresses this combination.",
        medications=tuple(context.patient["naltrexone_ids"] + ids),
    )


SIGNAL = Rule(
    id="LDN-SIG-001",
    code="opioid-exposure-signal",
    severity="moderate",
    summary="A medication that implies opioid use (constipation, bowel surgery, withdrawal), alongside naltrexone.",
    guideline="naltrexone blocks opioid effects and could precipitate withdrawal in opioid-dependent individuals",
    when="a naltrexone product is current or proposed and methylnaltrexone, naloxegol, naldemedine, alvimopan or "
    "lofexidine is current or proposed",
    then="a moderate alert asking about opioid use (never opioid-use itself)",
    clauses=(
        Clause(
            "implies_opioid_exposure",
            lambda: (
                patient_on_naltrexone(),
                c.signal << medication_of_this_patient(is_set(m.implies_opioid_exposure) & is_set(m.current)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, PERIPHERAL_ANTAGONIST_LABELS),
    explain=explain_signal,
)

SAMIDORPHAN = Rule(
    id="LDN-SAM-001",
    code="second-opioid-antagonist",
    severity="moderate",
    summary="Naltrexone with samidorphan (olanzapine/samidorphan), a second opioid antagonist.",
    guideline="naltrexone blocks opioid effects",
    guideline_source="LDN guidance summary; Lybalvi prescribing information",
    when="a naltrexone product is current or proposed and olanzapine/samidorphan is current or proposed",
    then="a moderate alert",
    clauses=(
        Clause(
            "samidorphan_with_naltrexone",
            lambda: (
                patient_on_naltrexone(),
                c.samidorphan << medication_of_this_patient(is_set(m.samidorphan) & is_set(m.current)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, LYBALVI_LABEL),
    explain=explain_samidorphan,
)
