"""Splitting commercial naltrexone tablets: 50 mg tablets cannot be divided accurately into 1.5-4.5 mg doses.

Guideline: "It's essential to use compounded LDN from a reputable pharmacy since commercial naltrexone
tablets (50 mg) cannot be accurately divided into the required low doses" (LDN guidance summary).

The rule unit below carries its When/Then. A whole 50 mg tablet, or half along the score, is correct use of
the tablet and raises nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.lang import c, m

from rules.base import Clause, Explanation, Findings, Rule
from rules.common import Condition, ids_of, is_set, medication_explanation
from rules.references import LDN_GUIDANCE, NALTREXONE_LABEL

if TYPE_CHECKING:
    from service.checker import RuleContext


def commercial_tablet_in_use() -> Condition:
    """A current or proposed commercial naltrexone tablet."""
    return (m.kind == "medication") & is_set(m.commercial_naltrexone_tablet) & is_set(m.current)


def _division(med):
    """'4.5 mg from a 50 mg tablet', or 'a divided 50 mg tablet' when the dose is not stated apart from it."""
    strength = f"{med.strength_mg:g} mg" if med.strength_mg else "commercial"
    divided = med.dose_mg is not None and not (med.strength_mg and abs(med.dose_mg - med.strength_mg) < 1e-6)
    return f"{med.dose_mg:g} mg from a {strength} tablet" if divided else f"a divided {strength} tablet"


def explain(findings: Findings, context: RuleContext) -> Explanation:
    """Name each tablet and the dose it is being cut to."""
    ids = ids_of(findings, "tablet")
    details = "; ".join(f"{med.name}: {_division(med)}" for med in (context.medications[i] for i in ids))
    return medication_explanation(
        context,
        ids,
        "Commercial naltrexone tablet divided for a dose: {names}.",
        details + ". The guidance summary says commercial 50 mg tablets cannot be divided accurately into low "
        "doses (the guidance summary's statement; no label or trial we found says so). The problem is measurement, not the "
        "drug: naltrexone hydrochloride dissolves in water, but a dose cut from a tablet or measured from a "
        "solution made at home has no verified strength, label or tested stability.",
        "If low-dose naltrexone is intended, prescribe it compounded (capsules or liquid at the intended "
        "strength, e.g. 1.5, 3 or 4.5 mg) by a reputable compounding pharmacy instead of dividing commercial "
        "tablets; otherwise confirm the regimen.",
    )


RULE = Rule(
    id="LDN-SPL-001",
    code="tablet-splitting",
    severity="moderate",
    summary="A commercial naltrexone tablet divided, which the guidance summary says cannot be done accurately.",
    guideline="commercial naltrexone tablets (50 mg) cannot be accurately divided into the required low doses",
    when="a commercial (not compounded) naltrexone tablet is current or proposed and its dose is not whole tablets or "
    "a half along the score, or the instructions cut it into pieces, quarter, dissolve or crush it",
    then="a moderate alert: compounded LDN if low-dose naltrexone is intended, otherwise confirm the regimen",
    clauses=(
        Clause(
            "fraction_off_the_score", lambda: (c.tablet << (commercial_tablet_in_use() & is_set(m.off_score_fraction)),)
        ),
        Clause("cut_or_dissolved", lambda: (c.tablet << (commercial_tablet_in_use() & is_set(m.split_instruction)),)),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL),
    explain=explain,
)
