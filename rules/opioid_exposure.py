"""Medications that imply opioid therapy, and a second opioid antagonist, alongside naltrexone.

Guideline: naltrexone blocks opioid effects (LDN guidance summary). Methylnaltrexone (Relistor), naloxegol
(Movantik), naldemedine (Symproic) and alvimopan (Entereg) are given to patients taking opioids, and lofexidine
(Lucemyra) for opioid withdrawal (their labels): with naltrexone they are not opioid use, but a reason to ask.
Samidorphan (Lybalvi) is itself an opioid antagonist whose label contraindicates opioid use and withdrawal.

When  naltrexone is current or proposed and a medication that implies opioid exposure is current or proposed
Then  moderate (opioid-exposure-signal), never opioid-use.
When  naltrexone is current or proposed and olanzapine/samidorphan is current or proposed
Then  moderate (second-opioid-antagonist).
"""

from durable.lang import c, m

from rules.base import Clause, Explanation, Rule
from rules.common import ids_of, join_names, medication_of_this_patient, names_of, patient_on_naltrexone, summary_with_names
from rules.references import LDN_GUIDANCE, LYBALVI_LABEL, PERIPHERAL_ANTAGONIST_LABELS


def explain_signal(findings, context):
    ids = ids_of(findings, "signal")
    names = names_of(context, ids)
    return Explanation(
        summary=summary_with_names("{names} suggests opioid use or withdrawal in a patient on naltrexone.", names),
        rationale=(
            f"{join_names(names, 10)} is used for opioid-induced constipation, opioid-exposed bowel surgery or "
            "opioid withdrawal. It is not an opioid, but it implies the patient takes, took or is withdrawing from "
            "opioids, which naltrexone blocks and can precipitate withdrawal from."
        ),
        recommendation=(
            "Ask about current and recent opioid use (including from other prescribers) before starting or "
            "continuing naltrexone; if no opioid is used, review whether this medication is still needed."
        ),
        medications=tuple(context.patient["naltrexone_ids"] + ids),
    )


def explain_samidorphan(findings, context):
    ids = ids_of(findings, "samidorphan")
    return Explanation(
        summary=summary_with_names("Two opioid antagonists: naltrexone with samidorphan ({names}).", names_of(context, ids)),
        rationale=(
            "Samidorphan, in olanzapine/samidorphan, is an opioid antagonist like naltrexone; taking both "
            "duplicates the opioid blockade, and both labels warn about opioid use and precipitated withdrawal."
        ),
        recommendation="Confirm that both are intended; consider whether olanzapine alone would serve.",
        medications=tuple(context.patient["naltrexone_ids"] + ids),
    )


SIGNAL = Rule(
    id="LDN-SIG-001",
    code="opioid-exposure-signal",
    severity="moderate",
    summary="A medication given for opioid side effects or withdrawal, alongside naltrexone.",
    guideline="naltrexone blocks opioid effects and could precipitate withdrawal in opioid-dependent individuals",
    when="a naltrexone product is current or proposed and methylnaltrexone, naloxegol, naldemedine, alvimopan or "
    "lofexidine is current or proposed",
    then="a moderate alert asking about opioid use (never opioid-use itself)",
    clauses=(
        Clause(
            "implies_opioid_exposure",
            lambda: (
                patient_on_naltrexone(),
                c.signal << medication_of_this_patient((m.implies_opioid_exposure == True) & (m.current == True)),  # noqa: E712
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
                c.samidorphan << medication_of_this_patient((m.samidorphan == True) & (m.current == True)),  # noqa: E712
            ),
        ),
    ),
    references=(LDN_GUIDANCE, LYBALVI_LABEL),
    explain=explain_samidorphan,
)
