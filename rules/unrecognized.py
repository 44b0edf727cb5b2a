"""What the service could not fully read, it could not fully check, and it says so.

Each rule unit below carries its When/Then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules.base import Clause, Explanation, Findings, Rule
from rules.common import (
    ids_of,
    is_set,
    is_unset,
    join_names,
    medication_of_this_patient,
    names_of,
    patient_on_naltrexone,
    summary_with_names,
)
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL

if TYPE_CHECKING:
    from rules.knowledge.normalise import NormalisedMedication
    from service.checker import RuleContext

_KIND_WORDS = {
    "abbreviation": "abbreviation",
    "truncation": "shortened name",
    "spelling": "spelling",
    "sig": "word in the sig",
}


def _quoted(words):
    return join_names([f'"{w}"' for w in dict.fromkeys(words)], 5)


def describe_unread(med: NormalisedMedication) -> str:
    """One sentence per line: which words were not understood and what each could be."""
    parts = [] if med.identified else ["matches no name or code the service knows"]
    if med.unmatched:
        parts.append(f"{_quoted(med.unmatched)} not understood")
    for ambiguity, is_open in med.ambiguities:
        if not is_open:
            continue
        labels = [r.label for r in sorted(ambiguity.readings, key=lambda r: not r.opioid)]
        parts.append(f'"{ambiguity.term}" ({_KIND_WORDS[ambiguity.kind]}) could be {join_names(labels, 4)}')
    return f'"{med.name}": ' + "; ".join(parts) if parts else f'"{med.name}"'


def _opioid_readings(med):
    """The readings of a line's open ambiguities that carry an opioid ingredient, by label."""
    return [r.label for ambiguity, is_open in med.ambiguities if is_open for r in ambiguity.readings if r.opioid]


def explain_possible_opioid(findings: Findings, context: RuleContext) -> Explanation:
    ids = ids_of(findings, "line")
    meds = [context.medications[i] for i in ids]
    naltrexone = context.patient["naltrexone_ids"]
    opioids = [label for med in meds for label in _opioid_readings(med)]
    return Explanation(
        summary=summary_with_names(
            "Could be an opioid, not confirmed: {names}.", [f'"{n}"' for n in names_of(context, ids)]
        ),
        rationale=(
            "; ".join(describe_unread(med) for med in meds) + ". "
            f"Read one way the line contains an opioid ({join_names(opioids, 4)}), which naltrexone would block; "
            "the service does not guess which reading is meant, so it could not rule the opioid out."
        ),
        recommendation=(
            "Confirm the medication with the patient, the prescriber or the dispensing record, and re-check it with "
            "its full generic name, strength and form or an RxNorm or NDC code. Treat it as an opioid alongside "
            "naltrexone until confirmed otherwise."
        ),
        medications=tuple(naltrexone + ids),
    )


def explain_partial(findings: Findings, context: RuleContext) -> Explanation:
    ids = ids_of(findings, "line")
    meds = [context.medications[i] for i in ids]
    return Explanation(
        summary=summary_with_names(
            "Not recognized in full, so not fully checked: {names}.", [f'"{n}"' for n in names_of(context, ids)]
        ),
        rationale=(
            "; ".join(describe_unread(med) for med in meds) + ". "
            "What was recognized was checked; the words that were not could name another ingredient, such as an "
            "opioid that naltrexone would block. (A data-quality alert: no clinical source sets its severity.)"
        ),
        recommendation=(
            "Review these lines by hand, or send them with the full generic name as written on the label or with "
            "an RxNorm or NDC code."
        ),
        medications=tuple(context.patient["naltrexone_ids"] + ids),
    )


def explain_unrecognized(findings: Findings, context: RuleContext) -> Explanation:
    ids = ids_of(findings, "medication")
    meds = [context.medications[i] for i in ids]
    names = [f'"{n}"' for n in names_of(context, ids)]
    hints = [
        f'"{context.medications[i].name}" resembles {join_names(context.spellings[i], 3)}'
        for i in ids
        if context.spellings.get(i)
    ]
    hint_text = (" Spelling suggests (not used for any check): " + "; ".join(hints) + ".") if hints else ""
    partial = [describe_unread(med) for med in meds if med.identified]
    partial_text = (" Partly recognized: " + "; ".join(partial) + ".") if partial else ""
    return Explanation(
        summary=summary_with_names("Not recognized, so not checked: {names}.", names),
        rationale=(
            "These medications matched no name or code the service knows, or only in part, so no rule could check "
            "them in full. With no naltrexone current, no rule applies to them yet, but a line like this could itself "
            "be a naltrexone product the service did not recognize, or an opioid if naltrexone is added later."
            + partial_text
            + hint_text
        ),
        recommendation=(
            "Review them by hand, or send them with an RxNorm or NDC code or the generic name as written on the label."
        ),
        medications=tuple(ids),
    )


POSSIBLE_OPIOID = Rule(
    id="LDN-OPI-002",
    code="possible-opioid",
    severity="high",
    summary="A medication line that could be an opioid, alongside naltrexone.",
    guideline="naltrexone blocks opioid effects",
    when="a naltrexone product is current or proposed, and a current medication has a shortened name, an "
    "abbreviation or a spelling that could be an opioid and nothing else on the line settles which it is",
    then="a high alert naming the line, the words and the opioids they could be",
    clauses=(
        Clause(
            "possible_opioid_with_naltrexone",
            lambda: (
                patient_on_naltrexone(),
                c.line << medication_of_this_patient(is_set(m.possible_opioid) & is_set(m.current)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL),
    explain=explain_possible_opioid,
)

PARTIAL = Rule(
    id="LDN-UNR-002",
    code="partially-recognized-medication",
    severity="moderate",
    summary="A medication line the service could not read in full, alongside naltrexone.",
    guideline="patients should discuss this treatment with their healthcare provider, especially if they take opioid "
    "medications",
    when="a naltrexone product is current or proposed, and a current medication has words the service could not "
    "read (none resembles a known opioid name, though an unknown word could still be an unlisted product), an "
    "ambiguity whose readings differ for the rules, or matches "
    "nothing the service knows",
    then="a moderate alert naming the words that were not understood",
    clauses=(
        Clause(
            "partial_with_naltrexone",
            lambda: (
                patient_on_naltrexone(),
                c.line << medication_of_this_patient(is_set(m.partial) & is_set(m.current)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE,),
    explain=explain_partial,
)

RULE = Rule(
    id="LDN-UNR-001",
    code="unrecognized-medication",
    severity="info",
    summary="A medication the service could not identify, or only in part, so it could not be checked in full.",
    guideline="patients should discuss this treatment with their healthcare provider, especially if they take opioid "
    "medications",
    when="a medication's name and codes match nothing in the vocabulary, or leave words unexplained, and no "
    "possible-opioid or partially-recognized alert already names it (so: no current naltrexone, or the line is "
    "not current; the line could itself be a naltrexone the service did not recognize)",
    then="an info alert naming every such medication",
    clauses=(
        Clause(
            "unrecognized",
            lambda: (
                c.medication << ((m.kind == "medication") & is_unset(m.recognized) & is_unset(m.unchecked_shown)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE,),
    explain=explain_unrecognized,
)
