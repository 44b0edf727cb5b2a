"""The LDN protocol: 1.5-4.5 mg daily at bedtime, titrated 1.5 -> 3 -> 4.5 mg, judged over months.

Guideline (LDN guidance summary): "a dose of 1.5-4.5 mg daily, taken at bedtime"; "starts at 1.5 mg daily for
1-2 weeks, then increases to 3 mg for another 1-2 weeks, before reaching the target dose of 4.5 mg daily";
"benefits may take 2-3 months to become noticeable, and patients should continue treatment for at least 6
months to properly evaluate effectiveness".

Low-dose use means an oral single-ingredient naltrexone that is compounded or under 50 mg a day (Contrave,
Vivitrol and opioid combinations are not low-dose naltrexone). The daily dose is the daily total
(4.5 mg twice daily is 9 mg).

When  low-dose use is current or proposed with a daily dose above 4.5 mg      Then  moderate (dose-range).
When  low-dose use is current or proposed with a daily dose below 1.5 mg      Then  low (dose-range).
When  low-dose use is current or proposed and its daily dose cannot be worked out
Then  info (dose-unverified): the dose could not be checked.
When  a new LDN start (proposed, no current naltrexone) is above 1.5 mg a day Then  low (titration).
When  LDN is scheduled, and not at bedtime                                    Then  info (dose-timing).
When  LDN stopped before 3 months, or between 3 and 6 months, or is planned for under 6 months
Then  info (ldn-trial-duration).
"""

from durable.lang import c, m

from rules.base import Clause, Rule
from rules.common import ids_of, medication_explanation
from rules.references import LDN_GUIDANCE, LDN_RESEARCH

LOW_MG, HIGH_MG = 1.5, 4.5
BENEFIT_DAYS, EVALUATION_DAYS = 90, 182  # 2-3 months to benefit; at least 6 months to evaluate
EVIDENCE_NOTE = (
    "The evidence for LDN itself is limited: small pilot trials with mostly subjective benefit, and a 2024 "
    "review of seven randomised trials found no clear benefit in chronic pain."
)


def ldn_in_use():
    """A current or proposed low-dose naltrexone."""
    return (m.kind == "medication") & (m.ldn == True) & (m.current == True)  # noqa: E712


def _doses(context, ids):
    parts = []
    for med in (context.medications[i] for i in ids):
        if med.daily_mg is not None:
            parts.append(f"{med.name}: {med.daily_mg:g} mg a day")
        else:
            parts.append(med.name)
    return "; ".join(parts)


def explain_above(findings, context):
    ids = ids_of(findings, "m")
    return medication_explanation(
        context,
        ids,
        "Low-dose naltrexone above 4.5 mg a day: {names}.",
        (
            f"{_doses(context, ids)}. The LDN protocol's dose range is 1.5-4.5 mg daily (the daily total counts: "
            "4.5 mg twice daily is 9 mg); this is above the dose the guidance recommends."
        ),
        "Check the intended dose and frequency; the target LDN dose is 4.5 mg once daily at bedtime.",
    )


def explain_below(findings, context):
    ids = ids_of(findings, "m")
    return medication_explanation(
        context,
        ids,
        "Low-dose naltrexone below 1.5 mg a day: {names}.",
        f"{_doses(context, ids)}. The LDN protocol starts at 1.5 mg daily and ranges up to 4.5 mg daily.",
        (
            "Check the intended dose: the protocol starts at 1.5 mg daily. A lower dose may be deliberate (for "
            "example in a sensitive patient), but it is outside the guidance."
        ),
    )


def explain_unverified(findings, context):
    ids = ids_of(findings, "m")
    return medication_explanation(
        context,
        ids,
        "Could not work out the daily dose of {names}; dose not checked.",
        (
            "The dose or frequency of this low-dose naltrexone could not be read from the order, so the "
            "1.5-4.5 mg daily range could not be checked."
        ),
        "Send the dose (mg per dose, or strength and units per dose) and the frequency.",
    )


def explain_titration(findings, context):
    ids = ids_of(findings, "ldn")
    return medication_explanation(
        context,
        ids,
        "New low-dose naltrexone start above 1.5 mg a day: {names}.",
        (
            f"{_doses(context, ids)}. The standard protocol starts at 1.5 mg daily for 1-2 weeks, then 3 mg for "
            "1-2 weeks, before the 4.5 mg target. Side effects such as vivid dreams, sleep disturbances or "
            "headaches typically resolve within the first few weeks."
        ),
        "Start at 1.5 mg at bedtime and increase to 3 mg, then 4.5 mg, every 1-2 weeks as tolerated.",
    )


def explain_timing(findings, context):
    ids = ids_of(findings, "m")
    return medication_explanation(
        context,
        ids,
        "Low-dose naltrexone not scheduled at bedtime: {names}.",
        (
            "The LDN protocol gives the dose once daily at bedtime; this order's schedule does not say bedtime "
            "(or gives more than one dose a day)."
        ),
        "Schedule once daily at bedtime, unless the prescriber chose another time deliberately.",
    )


def _explain_trial(stage):
    def explain(findings, context):
        ids = ids_of(findings, "m")
        days = "; ".join(f"{context.medications[f['m']['ref']].name}: {f['m']['course_days']} days" for f in findings)
        return medication_explanation(
            context,
            ids,
            "Low-dose naltrexone " + stage + ": {names}.",
            f"{days}. Benefits of LDN may take 2-3 months to become noticeable, and treatment should continue "
            f"for at least 6 months to evaluate its effect properly. {EVIDENCE_NOTE}",
            "If LDN was stopped for lack of effect, note that the trial was shorter than the protocol's "
            "evaluation period; if for side effects, record them. Plan a course of at least 6 months.",
        )

    return explain


def ended_course(low, high):
    """A stopped or completed LDN course that lasted low <= days < high."""
    return (
        (m.kind == "medication")
        & (m.ldn == True)  # noqa: E712
        & (m.course_ended == True)  # noqa: E712
        & (m.course_days >= low)
        & (m.course_days < high)
    )


DOSE_ABOVE = Rule(
    id="LDN-DOS-001",
    code="dose-range",
    severity="moderate",
    summary="Low-dose naltrexone above 4.5 mg a day.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone (oral, compounded or under 50 mg a day) is current or proposed with a daily dose above 4.5 mg",
    then="a moderate alert with the daily total",
    clauses=(Clause("daily_above_4_5_mg", lambda: (ldn_in_use() & (m.daily_mg > HIGH_MG),)),),
    references=(LDN_GUIDANCE,),
    explain=explain_above,
)

DOSE_BELOW = Rule(
    id="LDN-DOS-002",
    code="dose-range",
    severity="low",
    summary="Low-dose naltrexone below 1.5 mg a day.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed with a daily dose below 1.5 mg",
    then="a low alert with the daily total",
    clauses=(Clause("daily_below_1_5_mg", lambda: (ldn_in_use() & (m.daily_mg < LOW_MG),)),),
    references=(LDN_GUIDANCE,),
    explain=explain_below,
)

DOSE_UNVERIFIED = Rule(
    id="LDN-DOS-003",
    code="dose-unverified",
    severity="info",
    summary="The daily dose of a low-dose naltrexone could not be worked out, so it was not checked.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed and neither dose nor strength and frequency give a daily dose",
    then="an info alert saying the dose range could not be checked",
    clauses=(Clause("daily_dose_unknown", lambda: (ldn_in_use() & (m.daily_known == False),)),),  # noqa: E712
    references=(LDN_GUIDANCE,),
    explain=explain_unverified,
)

TITRATION = Rule(
    id="LDN-TIT-001",
    code="titration",
    severity="low",
    summary="A new low-dose naltrexone start above 1.5 mg a day.",
    guideline="starts at 1.5 mg daily for 1-2 weeks, then increases to 3 mg for another 1-2 weeks, before reaching "
    "the target dose of 4.5 mg daily",
    when="low-dose naltrexone is proposed, no naltrexone is already current, and the daily dose is above 1.5 mg",
    then="a low alert recommending the 1.5 -> 3 -> 4.5 mg titration",
    clauses=(
        Clause(
            "new_start_above_1_5_mg",
            lambda: (
                c.patient << ((m.kind == "patient") & (m.naltrexone_established == False)),  # noqa: E712
                c.ldn
                << (
                    (m.kind == "medication")
                    & (m.ldn == True)  # noqa: E712
                    & (m.proposed == True)  # noqa: E712
                    & (m.daily_mg > LOW_MG)
                    & (m.pid == c.patient.pid)
                ),
            ),
        ),
    ),
    references=(LDN_GUIDANCE,),
    explain=explain_titration,
)

TIMING = Rule(
    id="LDN-TIM-001",
    code="dose-timing",
    severity="info",
    summary="Low-dose naltrexone scheduled other than at bedtime.",
    guideline="taken at bedtime",
    when="low-dose naltrexone is current or proposed, its schedule is stated, and it is not once at bedtime "
    "(QHS, 'at bedtime', 'before sleep' all count as bedtime)",
    then="an info alert suggesting bedtime dosing",
    clauses=(
        Clause(
            "not_at_bedtime",
            lambda: (ldn_in_use() & (m.schedule_stated == True) & (m.bedtime == False),),  # noqa: E712
        ),
    ),
    references=(LDN_GUIDANCE,),
    explain=explain_timing,
)

TRIAL_BEFORE_BENEFIT = Rule(
    id="LDN-TRL-001",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone stopped before the 2-3 months its benefits may take.",
    guideline="benefits may take 2-3 months to become noticeable",
    when="a low-dose naltrexone course was stopped or completed after fewer than 90 days",
    then="an info alert (the trial was too short to show benefit)",
    clauses=(Clause("stopped_before_3_months", lambda: (ended_course(0, BENEFIT_DAYS),)),),
    references=(LDN_GUIDANCE, LDN_RESEARCH),
    explain=_explain_trial("stopped before 3 months"),
)

TRIAL_BEFORE_EVALUATION = Rule(
    id="LDN-TRL-002",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone stopped before the 6 months needed to evaluate it.",
    guideline="continue treatment for at least 6 months to properly evaluate effectiveness",
    when="a low-dose naltrexone course was stopped or completed after 90 to 181 days",
    then="an info alert (stopped before it could be evaluated)",
    clauses=(Clause("stopped_before_6_months", lambda: (ended_course(BENEFIT_DAYS, EVALUATION_DAYS),)),),
    references=(LDN_GUIDANCE, LDN_RESEARCH),
    explain=_explain_trial("stopped before 6 months"),
)

TRIAL_PLANNED_SHORT = Rule(
    id="LDN-TRL-003",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone planned for less than the 6 months needed to evaluate it.",
    guideline="continue treatment for at least 6 months to properly evaluate effectiveness",
    when="a current or proposed low-dose naltrexone has an end date less than 182 days after its start",
    then="an info alert (the planned course is too short to judge)",
    clauses=(
        Clause(
            "planned_under_6_months",
            lambda: (ldn_in_use() & (m.course_ended == False) & (m.course_days < EVALUATION_DAYS),),  # noqa: E712
        ),
    ),
    references=(LDN_GUIDANCE, LDN_RESEARCH),
    explain=_explain_trial("planned for under 6 months"),
)

RULES = (DOSE_ABOVE, DOSE_BELOW, DOSE_UNVERIFIED, TITRATION, TIMING, TRIAL_BEFORE_BENEFIT, TRIAL_BEFORE_EVALUATION, TRIAL_PLANNED_SHORT)
