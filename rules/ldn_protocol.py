"""The LDN protocol: 1.5-4.5 mg daily at bedtime, titrated 1.5 -> 3 -> 4.5 mg, judged over months.

Guideline (LDN guidance summary): "a dose of 1.5-4.5 mg daily, taken at bedtime"; "starts at 1.5 mg daily for
1-2 weeks, then increases to 3 mg for another 1-2 weeks, before reaching the target dose of 4.5 mg daily";
"benefits may take 2-3 months to become noticeable, and patients should continue treatment for at least 6
months to properly evaluate effectiveness".

These rules apply to low-dose use only (rules.definitions): standard-dose naltrexone for alcohol or opioid use
disorder follows its own label, and a commercial dose that is neither is the naltrexone-regimen rule. Each rule
unit below carries its When/Then.
"""

from durable.lang import c, m

from rules import definitions as d
from rules.base import Clause, Rule, Text
from rules.common import explain_with, is_set, is_unset
from rules.references import (
    CREE_2010,
    KIM_FISHMAN_2020,
    LDN_GUIDANCE,
    NALTREXONE_LABEL,
    PARKITNY_YOUNGER_2017,
    SMITH_2007,
    YOUNGER_2014,
    YOUNGER_MACKEY_2009,
)

TRIAL_EVIDENCE = (LDN_GUIDANCE, YOUNGER_2014, PARKITNY_YOUNGER_2017, KIM_FISHMAN_2020)


def ldn_in_use():
    """A current or proposed low-dose naltrexone."""
    return (m.kind == "medication") & is_set(m.ldn) & is_set(m.current)


def ended_course(low, high):
    """A stopped or completed LDN course that lasted low <= days < high."""
    return (
        (m.kind == "medication")
        & is_set(m.ldn)
        & is_set(m.course_ended)
        & (m.course_days >= low)
        & (m.course_days < high)
    )


def daily_doses(_findings, context, ids):
    """'name: 6 mg a day; name …' for the medications an alert names."""
    parts = []
    for med in (context.medications[i] for i in ids):
        parts.append(f"{med.name}: {med.daily_mg:g} mg a day" if med.daily_mg is not None else med.name)
    return "; ".join(parts)


def course_lengths(findings, context, _ids):
    """'name: 40 days' for each course an alert names."""
    return "; ".join(f"{context.medications[f['ldn']['ref']].name}: {f['ldn']['course_days']} days" for f in findings)


EVIDENCE = (
    "The evidence for LDN is small: pilot trials and small randomised trials with mostly subjective benefit, and "
    "reviews that call for larger trials."
)

_TRIAL_TEXT = dict(
    rationale="{details}. Benefits of LDN may take 2-3 months to become noticeable, and treatment should continue for "
    "at least 6 months to evaluate its effect properly. " + EVIDENCE,
    recommendation="If LDN was stopped for lack of effect, note that the trial was shorter than the protocol's "
    "evaluation period; if for side effects, record them. Plan a course of at least 6 months.",
)

DOSE_ABOVE = Rule(
    id="LDN-DOS-001",
    code="dose-range",
    severity="moderate",
    summary="Low-dose naltrexone above 4.5 mg a day.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed with a daily dose (the daily total) above 4.5 mg",
    then="a moderate alert with the daily total",
    clauses=(Clause("daily_above_ldn_range", lambda: (c.ldn << (ldn_in_use() & (m.daily_mg > d.LDN_MAX_DAILY_MG)),)),),
    references=(LDN_GUIDANCE,),
    explain=explain_with(Text(
        summary="Low-dose naltrexone above {LDN_MAX_DAILY_MG:g} mg a day: {names}.",
        rationale="{details}. The LDN range is {LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg daily, and the daily "
        "total counts (a dose taken twice a day counts twice); this is above it.",
        recommendation="Check the intended dose and frequency: the LDN target is {LDN_MAX_DAILY_MG:g} mg once daily "
        "at bedtime. If standard-dose naltrexone (50 mg daily, for alcohol or opioid use disorder) was meant, "
        "order that product and regimen instead.",
    ), "ldn", daily_doses),
)

DOSE_BELOW = Rule(
    id="LDN-DOS-002",
    code="dose-range",
    severity="low",
    summary="Low-dose naltrexone below 1.5 mg a day.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed with a daily dose below 1.5 mg",
    then="a low alert with the daily total",
    clauses=(Clause("daily_below_ldn_range", lambda: (c.ldn << (ldn_in_use() & (m.daily_mg < d.LDN_MIN_DAILY_MG)),)),),
    references=(LDN_GUIDANCE,),
    explain=explain_with(Text(
        summary="Low-dose naltrexone below {LDN_MIN_DAILY_MG:g} mg a day: {names}.",
        rationale="{details}. The LDN protocol starts at {LDN_MIN_DAILY_MG:g} mg daily and ranges up to "
        "{LDN_MAX_DAILY_MG:g} mg daily; this is below it.",
        recommendation="Check the intended dose. A lower dose may be deliberate (for example in a patient who did "
        "not tolerate {LDN_MIN_DAILY_MG:g} mg), but it is outside the guidance.",
    ), "ldn", daily_doses),
)

DOSE_UNVERIFIED = Rule(
    id="LDN-DOS-003",
    code="dose-unverified",
    severity="info",
    summary="The daily dose of a low-dose naltrexone could not be worked out, so it was not checked.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed and neither dose nor strength and frequency give a daily dose",
    then="an info alert saying the dose range could not be checked",
    clauses=(Clause("daily_dose_unknown", lambda: (c.ldn << (ldn_in_use() & is_unset(m.daily_known)),)),),
    references=(LDN_GUIDANCE,),
    explain=explain_with(Text(
        summary="Could not work out the daily dose of {names}; dose not checked.",
        rationale="The dose or frequency of this low-dose naltrexone could not be read from the order, so the "
        "{LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg daily range could not be checked.",
        recommendation="Send the dose (mg per dose, or strength and units per dose) and the frequency.",
    ), "ldn"),
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
            "new_start_above_starting_dose",
            lambda: (
                c.patient << ((m.kind == "patient") & is_unset(m.naltrexone_established)),
                c.ldn << (ldn_in_use() & is_set(m.proposed) & (m.daily_mg > d.LDN_MIN_DAILY_MG) & (m.pid == c.patient.pid)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, YOUNGER_MACKEY_2009, SMITH_2007),
    explain=explain_with(Text(
        summary="New low-dose naltrexone start above {LDN_MIN_DAILY_MG:g} mg a day: {names}.",
        rationale="{details}. The usual protocol starts at {LDN_MIN_DAILY_MG:g} mg daily for 1-2 weeks, then 3 mg "
        "for 1-2 weeks, before the {LDN_MAX_DAILY_MG:g} mg target. Side effects such as vivid dreams, sleep "
        "disturbance or headache typically settle within the first few weeks; in the trials they were mostly "
        "minor and transient.",
        recommendation="Start at {LDN_MIN_DAILY_MG:g} mg at bedtime and increase to 3 mg, then "
        "{LDN_MAX_DAILY_MG:g} mg, every 1-2 weeks as tolerated.",
    ), "ldn", daily_doses),
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
        Clause("not_at_bedtime", lambda: (c.ldn << (ldn_in_use() & is_set(m.schedule_stated) & is_unset(m.bedtime)),)),
    ),
    references=(LDN_GUIDANCE, CREE_2010, SMITH_2007),
    explain=explain_with(Text(
        summary="Low-dose naltrexone not scheduled at bedtime: {names}.",
        rationale="The LDN protocol gives the dose once daily at bedtime, as the trials gave it (nightly or each "
        "evening); this order's schedule does not say bedtime, or gives more than one dose a day.",
        recommendation="Schedule once daily at bedtime, unless the prescriber chose another time deliberately.",
    ), "ldn"),
)

TRIAL_BEFORE_BENEFIT = Rule(
    id="LDN-TRL-001",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone stopped before the 2-3 months its benefits may take.",
    guideline="benefits may take 2-3 months to become noticeable",
    when="a low-dose naltrexone course was stopped or completed after fewer than 90 days",
    then="an info alert (the trial was too short to show benefit)",
    clauses=(Clause("stopped_before_benefit", lambda: (c.ldn << ended_course(0, d.BENEFIT_DAYS),)),),
    references=TRIAL_EVIDENCE,
    explain=explain_with(Text(summary="Low-dose naltrexone stopped before 3 months: {names}.", **_TRIAL_TEXT), "ldn",
                         course_lengths),
)

TRIAL_BEFORE_EVALUATION = Rule(
    id="LDN-TRL-002",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone stopped before the 6 months needed to evaluate it.",
    guideline="continue treatment for at least 6 months to properly evaluate effectiveness",
    when="a low-dose naltrexone course was stopped or completed after 90 to 181 days",
    then="an info alert (stopped before it could be evaluated)",
    clauses=(
        Clause("stopped_before_evaluation", lambda: (c.ldn << ended_course(d.BENEFIT_DAYS, d.EVALUATION_DAYS),)),
    ),
    references=TRIAL_EVIDENCE,
    explain=explain_with(Text(summary="Low-dose naltrexone stopped before 6 months: {names}.", **_TRIAL_TEXT), "ldn",
                         course_lengths),
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
            "planned_under_evaluation_period",
            lambda: (c.ldn << (ldn_in_use() & is_unset(m.course_ended) & (m.course_days < d.EVALUATION_DAYS)),),
        ),
    ),
    references=TRIAL_EVIDENCE,
    explain=explain_with(Text(summary="Low-dose naltrexone planned for under 6 months: {names}.", **_TRIAL_TEXT),
                         "ldn", course_lengths),
)


REGIMEN_UNCLEAR = Rule(
    id="LDN-REG-001",
    code="naltrexone-regimen",
    severity="moderate",
    summary="Commercial naltrexone at a dose that is neither low-dose naltrexone nor a standard regimen.",
    guideline="a dose of 1.5-4.5 mg daily; naltrexone tablets: 25 mg initially, then 50 mg daily (or the label's "
    "intermittent schedules)",
    guideline_source="LDN guidance summary; naltrexone hydrochloride tablets, prescribing information",
    when="commercial (not compounded, not LDN-labelled) oral naltrexone is current or proposed with a known daily "
    "dose above 4.5 mg that is not a standard regimen (25 or 50 mg once daily; 50, 100 or 150 mg on an "
    "intermittent schedule of at most 350 mg a week)",
    then="a moderate alert asking which regimen was meant",
    clauses=(
        Clause("neither_ldn_nor_standard", lambda: (c.naltrexone << ((m.kind == "medication") & is_set(m.regimen_unclear) & is_set(m.current)),)),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL),
    explain=explain_with(Text(
        summary="Naltrexone dose is neither LDN nor a standard regimen: {names}.",
        rationale="{details}. Low-dose naltrexone is {LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg daily, usually "
        "compounded; the naltrexone tablet label's regimens for alcohol or opioid use disorder are "
        "{STANDARD_INDUCTION_MG:g} mg initially, then {STANDARD_DAILY_MG:g} mg once daily (or 100-150 mg on an "
        "intermittent schedule). This dose is neither, so neither set of checks fits it.",
        recommendation="Confirm the intended regimen with the prescriber: for LDN, a compounded "
        "{LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg dose at bedtime; for alcohol or opioid use disorder, "
        "{STANDARD_DAILY_MG:g} mg once daily.",
    ), "naltrexone", daily_doses),
)

RULES = (
    DOSE_ABOVE,
    DOSE_BELOW,
    DOSE_UNVERIFIED,
    REGIMEN_UNCLEAR,
    TITRATION,
    TIMING,
    TRIAL_BEFORE_BENEFIT,
    TRIAL_BEFORE_EVALUATION,
    TRIAL_PLANNED_SHORT,
)
