"""Splitting commercial naltrexone tablets: 50 mg tablets cannot be divided accurately into 1.5-4.5 mg doses.

Guideline: "It's essential to use compounded LDN from a reputable pharmacy since commercial naltrexone
tablets (50 mg) cannot be accurately divided into the required low doses" (LDN guidance summary).

When  a commercial (non-compounded) naltrexone tablet is current or proposed
  and its dose is neither whole tablets nor a half along the score (from dose and strength, or a fractional
      tablet dose), or the instructions cut it into pieces, quarter, dissolve or crush it
Then  a moderate alert recommending compounded LDN. A whole 50 mg tablet (alcohol or opioid use disorder) is
      correct use and raises nothing.
"""

from durable.lang import m

from rules.base import Clause, Rule
from rules.common import ids_of, medication_explanation
from rules.references import LDN_GUIDANCE


def commercial_tablet_in_use():
    """A current or proposed commercial naltrexone tablet."""
    return (m.kind == "medication") & (m.commercial_naltrexone_tablet == True) & (m.current == True)  # noqa: E712


def explain(findings, context):
    """Name each tablet and the dose it is being cut to."""
    ids = ids_of(findings, "m")
    details = []
    for med in (context.medications[i] for i in ids):
        dose = f"{med.dose_mg:g} mg" if med.dose_mg is not None else "a divided dose"
        strength = f"{med.strength_mg:g} mg" if med.strength_mg else "commercial"
        details.append(f"{med.name}: {dose} from a {strength} tablet")
    return medication_explanation(
        context,
        ids,
        "Commercial naltrexone tablet divided for a low dose: {names}.",
        "; ".join(details) + ". Commercial naltrexone tablets (50 mg) cannot be divided accurately into the "
        "1.5-4.5 mg doses used for low-dose naltrexone: cutting, quartering or dissolving a tablet at home "
        "gives uneven, unpredictable doses.",
        "Prescribe compounded low-dose naltrexone (capsules or liquid at the intended strength, e.g. 1.5, 3 or "
        "4.5 mg) from a reputable compounding pharmacy instead of dividing commercial tablets.",
    )


RULE = Rule(
    id="LDN-SPL-001",
    code="tablet-splitting",
    severity="moderate",
    summary="A commercial naltrexone tablet divided for a dose it cannot deliver accurately.",
    guideline="commercial naltrexone tablets (50 mg) cannot be accurately divided into the required low doses",
    when="a commercial (not compounded) naltrexone tablet is current or proposed and its dose is not whole tablets or "
    "a half along the score, or the instructions cut it into pieces, quarter, dissolve or crush it",
    then="a moderate alert recommending compounded LDN from a reputable pharmacy",
    clauses=(
        Clause("fraction_off_the_score", lambda: (commercial_tablet_in_use() & (m.off_score_fraction == True),)),  # noqa: E712
        Clause("cut_or_dissolved", lambda: (commercial_tablet_in_use() & (m.split_instruction == True),)),  # noqa: E712
    ),
    references=(LDN_GUIDANCE,),
    explain=explain,
)
