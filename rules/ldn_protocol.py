"""The LDN protocol: 1.5-4.5 mg daily at bedtime, titrated 1.5 -> 3 -> 4.5 mg, judged over months.

Guideline (LDN guidance summary): "a dose of 1.5-4.5 mg daily, taken at bedtime"; "starts at 1.5 mg daily for
1-2 weeks, then increases to 3 mg for another 1-2 weeks, before reaching the target dose of 4.5 mg daily";
"benefits may take 2-3 months to become noticeable, and patients should continue treatment for at least 6
months to properly evaluate effectiveness".

These rules apply to low-dose use only (rules.definitions): standard-dose naltrexone for alcohol or opioid use
disorder follows its own label, and a commercial dose that is neither is the naltrexone-regimen rule. Each rule
unit below carries its When/Then.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from durable.lang import c, m

from rules import definitions as d
from rules.base import Clause, Findings, Rule, Text
from rules.common import Condition, explain_with, is_set, is_unset
from rules.references import (
    CREE_2010,
    KIM_FISHMAN_2020,
    LDN_GUIDANCE,
    NALTREXONE_LABEL,
    PARKITNY_YOUNGER_2017,
    SMITH_2007,
    TOLJAN_2018,
    YOUNGER_2014,
    YOUNGER_MACKEY_2009,
)

if TYPE_CHECKING:
    from service.checker import RuleContext

TRIAL_EVIDENCE = (LDN_GUIDANCE, YOUNGER_2014, PARKITNY_YOUNGER_2017, KIM_FISHMAN_2020)


def ldn_in_use() -> Condition:
    """A current or proposed low-dose naltrexone."""
    return (m.kind == "medication") & is_set(m.ldn) & is_set(m.current)


def ended_course(low: int, high: int) -> Condition:
    """A stopped or completed LDN course that lasted low <= days < high."""
    return (
        (m.kind == "medication")
        & is_set(m.ldn)
        & is_set(m.course_ended)
        & (m.course_days >= low)
        & (m.course_days < high)
    )


def daily_doses(_findings: Findings, context: RuleContext, ids: Iterable[str]) -> str:
    """'name: 6 mg a day; name …' for the medications an alert names."""
    parts = []
    for med in (context.medications[i] for i in ids):
        if med.daily_mg is None:
            parts.append(med.name)
        elif med.times_per_day is not None and med.times_per_day < 1:
            parts.append(f"{med.name}: {med.daily_mg * 7:.0f} mg a week (about {med.daily_mg:.0f} mg a day)")
        else:
            parts.append(f"{med.name}: {round(med.daily_mg, 2):g} mg a day")
    return "; ".join(parts)


def course_lengths(findings: Findings, context: RuleContext, _ids: Iterable[str]) -> str:
    """'name: 40 days' for each course an alert names."""
    return "; ".join(f"{context.medications[f['ldn']['ref']].name}: {f['ldn']['course_days']} days" for f in findings)


EVIDENCE = (
    "We found no trial or review that supports the 6-month figure. "
    "The evidence for LDN is small: pilot trials and small randomised trials with mostly self-reported outcomes, "
    "and reviews that call for further study."
)
_GUIDANCE_COURSE = (
    "The guidance summary suggests that benefits may take 2-3 months to become noticeable (the trials we read "
    "assessed benefit at 8-12 weeks) and that treatment continue for at least 6 months to evaluate it. "
)

_STOPPED_TEXT = dict(
    rationale="{details}. " + _GUIDANCE_COURSE + EVIDENCE,
    recommendation="Record why LDN was stopped (lack of effect, or side effects and which). If for lack of effect, "
    "note that the course was shorter than the guidance summary suggests.",
)
_PLANNED_TEXT = dict(
    rationale="{details}. " + _GUIDANCE_COURSE + EVIDENCE,
    recommendation="Consider whether the planned course should be longer, as the guidance summary suggests; the "
    "decision is the prescriber's.",
)

DOSE_ABOVE = Rule(
    id="LDN-DOS-001",
    code="dose-range",
    severity="moderate",
    summary="Low-dose naltrexone above 5 mg a day, beyond the guidance summary and the 1-5 mg of one review.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed with a daily dose (the daily total) above 5 mg, the top of the "
    "range a review (Toljan 2018) describes",
    then="a moderate alert with the daily total",
    clauses=(
        Clause(
            "daily_above_reviewed_range", lambda: (c.ldn << (ldn_in_use() & (m.daily_mg > d.LDN_REVIEW_MAX_DAILY_MG)),)
        ),
    ),
    references=(LDN_GUIDANCE, TOLJAN_2018, NALTREXONE_LABEL),
    explain=explain_with(
        Text(
            summary="Low-dose naltrexone above {LDN_REVIEW_MAX_DAILY_MG:g} mg a day: {names}.",
            rationale="{details}. The guidance summary's LDN range is {LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg "
            "daily and a review (Toljan 2018) describes 1-{LDN_REVIEW_MAX_DAILY_MG:g} mg; the daily total counts (a dose taken twice "
            "a day counts twice), and this is above both.",
            recommendation="Check the intended dose and frequency: the guidance summary's target is "
            "{LDN_MAX_DAILY_MG:g} mg once daily at bedtime. If standard-dose naltrexone was meant (50 mg daily; "
            "labelled for alcohol dependence and for blockade of the effects of opioids), order that product and "
            "regimen instead.",
        ),
        "ldn",
        daily_doses,
    ),
)

DOSE_SLIGHTLY_ABOVE = Rule(
    id="LDN-DOS-004",
    code="dose-range",
    severity="low",
    summary="Low-dose naltrexone above the guidance summary's 4.5 mg a day, within the 1-5 mg a review describes.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed with a daily dose above 4.5 mg and at most 5 mg",
    then="a low alert with the daily total",
    clauses=(
        Clause(
            "daily_above_guidance_range",
            lambda: (
                c.ldn << (ldn_in_use() & (m.daily_mg > d.LDN_MAX_DAILY_MG) & (m.daily_mg <= d.LDN_REVIEW_MAX_DAILY_MG)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, TOLJAN_2018),
    explain=explain_with(
        Text(
            summary="Low-dose naltrexone above {LDN_MAX_DAILY_MG:g} mg a day: {names}.",
            rationale="{details}. This is above the guidance summary's {LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg "
            "daily, though within the 1-{LDN_REVIEW_MAX_DAILY_MG:g} mg that a review (Toljan 2018) describes.",
            recommendation="Confirm the dose is intended; the guidance summary's target is {LDN_MAX_DAILY_MG:g} mg once "
            "daily at bedtime.",
        ),
        "ldn",
        daily_doses,
    ),
)

DOSE_BELOW = Rule(
    id="LDN-DOS-002",
    code="dose-range",
    severity="info",
    summary="Low-dose naltrexone below 1.5 mg a day.",
    guideline="a dose of 1.5-4.5 mg daily",
    when="low-dose naltrexone is current or proposed with a daily dose below 1.5 mg",
    then="an info alert with the daily total",
    clauses=(Clause("daily_below_ldn_range", lambda: (c.ldn << (ldn_in_use() & (m.daily_mg < d.LDN_MIN_DAILY_MG)),)),),
    references=(LDN_GUIDANCE, TOLJAN_2018),
    explain=explain_with(
        Text(
            summary="Low-dose naltrexone below {LDN_MIN_DAILY_MG:g} mg a day: {names}.",
            rationale="{details}. The guidance summary's range starts at {LDN_MIN_DAILY_MG:g} mg daily (reviews "
            "describe 1-{LDN_REVIEW_MAX_DAILY_MG:g} mg); this is below it.",
            recommendation="Check the intended dose. A lower dose may be deliberate (for example in a patient who did "
            "not tolerate {LDN_MIN_DAILY_MG:g} mg).",
        ),
        "ldn",
        daily_doses,
    ),
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
    explain=explain_with(
        Text(
            summary="Could not work out the daily dose of {names}; dose not checked.",
            rationale="The dose or frequency of this low-dose naltrexone could not be read from the order, so the "
            "{LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg daily range could not be checked.",
            recommendation="Send the dose (mg per dose, or strength and units per dose) and the frequency.",
        ),
        "ldn",
    ),
)

TITRATION = Rule(
    id="LDN-TIT-001",
    code="titration",
    severity="info",
    summary="A new low-dose naltrexone start above 1.5 mg a day.",
    guideline="starts at 1.5 mg daily for 1-2 weeks, then increases to 3 mg for another 1-2 weeks, before reaching "
    "the target dose of 4.5 mg daily",
    when="low-dose naltrexone is proposed, no naltrexone is already current, and the daily dose is above 1.5 mg",
    then="an info alert giving the guidance summary's 1.5 -> 3 -> 4.5 mg titration",
    clauses=(
        Clause(
            "new_start_above_starting_dose",
            lambda: (
                c.patient << ((m.kind == "patient") & is_unset(m.naltrexone_established)),
                c.ldn
                << (ldn_in_use() & is_set(m.proposed) & (m.daily_mg > d.LDN_MIN_DAILY_MG) & (m.pid == c.patient.pid)),
            ),
        ),
    ),
    references=(LDN_GUIDANCE, YOUNGER_MACKEY_2009, CREE_2010, SMITH_2007),
    explain=explain_with(
        Text(
            summary="New low-dose naltrexone start above {LDN_MIN_DAILY_MG:g} mg a day: {names}.",
            rationale="{details}. The guidance summary suggests starting at {LDN_MIN_DAILY_MG:g} mg daily for 1-2 "
            "weeks, then 3 mg for 1-2 weeks, before the {LDN_MAX_DAILY_MG:g} mg target, and says side effects such as "
            "vivid dreams, sleep disturbance or headache typically resolve within the first few weeks. The trials we "
            "read (Younger and Mackey 2009; Cree 2010) gave 4.5 mg and described no titration, and reported mostly minor, "
            "transient side effects; we found no trial of this titration schedule.",
            recommendation="Consider the guidance summary's titration ({LDN_MIN_DAILY_MG:g} mg at bedtime, then 3 mg, "
            "then {LDN_MAX_DAILY_MG:g} mg, every 1-2 weeks as tolerated); starting higher is the prescriber's choice.",
        ),
        "ldn",
        daily_doses,
    ),
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
    explain=explain_with(
        Text(
            summary="Low-dose naltrexone not scheduled at bedtime: {names}.",
            rationale="The guidance summary gives the dose once daily at bedtime, as the trials gave it (nightly or "
            "each evening; we found no trial that compared dosing times); this order's schedule does not say bedtime, or gives more "
            "than one dose a day.",
            recommendation="Schedule once daily at bedtime, unless the prescriber chose another time deliberately.",
        ),
        "ldn",
    ),
)

TRIAL_BEFORE_BENEFIT = Rule(
    id="LDN-TRL-001",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone stopped before the 2-3 months the guidance summary suggests benefits may take.",
    guideline="benefits may take 2-3 months to become noticeable",
    when="a low-dose naltrexone course was stopped or completed after fewer than 90 days",
    then="an info alert (the course was shorter than the guidance summary suggests)",
    clauses=(Clause("stopped_before_benefit", lambda: (c.ldn << ended_course(0, d.BENEFIT_DAYS),)),),
    references=TRIAL_EVIDENCE,
    explain=explain_with(
        Text(summary="Low-dose naltrexone stopped before 3 months: {names}.", **_STOPPED_TEXT), "ldn", course_lengths
    ),
)

TRIAL_BEFORE_EVALUATION = Rule(
    id="LDN-TRL-002",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone stopped before the 6 months the guidance summary suggests for evaluating it.",
    guideline="continue treatment for at least 6 months to properly evaluate effectiveness",
    when="a low-dose naltrexone course was stopped or completed after 90 to 181 days",
    then="an info alert (shorter than the guidance summary suggests; we found no trial that supports 6 months)",
    clauses=(Clause("stopped_before_evaluation", lambda: (c.ldn << ended_course(d.BENEFIT_DAYS, d.EVALUATION_DAYS),)),),
    references=TRIAL_EVIDENCE,
    explain=explain_with(
        Text(summary="Low-dose naltrexone stopped before 6 months: {names}.", **_STOPPED_TEXT), "ldn", course_lengths
    ),
)

TRIAL_PLANNED_SHORT = Rule(
    id="LDN-TRL-003",
    code="ldn-trial-duration",
    severity="info",
    summary="Low-dose naltrexone planned for less than the 6 months the guidance summary suggests.",
    guideline="continue treatment for at least 6 months to properly evaluate effectiveness",
    when="a current or proposed low-dose naltrexone has an end date less than 182 days after its start",
    then="an info alert (shorter than the guidance summary suggests; we found no trial that supports 6 months)",
    clauses=(
        Clause(
            "planned_under_evaluation_period",
            lambda: (c.ldn << (ldn_in_use() & is_unset(m.course_ended) & (m.course_days < d.EVALUATION_DAYS)),),
        ),
    ),
    references=TRIAL_EVIDENCE,
    explain=explain_with(
        Text(summary="Low-dose naltrexone planned for under 6 months: {names}.", **_PLANNED_TEXT), "ldn", course_lengths
    ),
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
        Clause(
            "neither_ldn_nor_standard",
            lambda: (c.naltrexone << ((m.kind == "medication") & is_set(m.regimen_unclear) & is_set(m.current)),),
        ),
    ),
    references=(LDN_GUIDANCE, NALTREXONE_LABEL),
    explain=explain_with(
        Text(
            summary="Naltrexone dose is neither LDN nor a standard regimen: {names}.",
            rationale="{details}. Low-dose naltrexone is {LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg daily in the "
            "guidance summary, usually compounded; the naltrexone tablet label's regimens (for alcohol dependence and "
            "for blockade of the effects of opioids) are "
            "{STANDARD_INDUCTION_MG:g} mg initially, then {STANDARD_DAILY_MG:g} mg once daily (or 100-150 mg on an "
            "intermittent schedule; all as Drugs.com summarises the label). This dose is neither, so neither set of "
            "checks fits it.",
            recommendation="Confirm the intended regimen with the prescriber: for LDN, a compounded "
            "{LDN_MIN_DAILY_MG:g}-{LDN_MAX_DAILY_MG:g} mg dose at bedtime; for alcohol dependence or blockade of "
            "opioid effects, {STANDARD_DAILY_MG:g} mg once daily.",
        ),
        "naltrexone",
        daily_doses,
    ),
)

RULES = (
    DOSE_ABOVE,
    DOSE_SLIGHTLY_ABOVE,
    DOSE_BELOW,
    DOSE_UNVERIFIED,
    REGIMEN_UNCLEAR,
    TITRATION,
    TIMING,
    TRIAL_BEFORE_BENEFIT,
    TRIAL_BEFORE_EVALUATION,
    TRIAL_PLANNED_SHORT,
)
