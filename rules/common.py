"""Small named conditions and phrasing shared by the rule units."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from durable.lang import c, m

from rules.base import Explain, Explanation, Findings, Text

if TYPE_CHECKING:
    from service.checker import RuleContext

# A durable-rules expression (`m.flag == True`, `c.patient << ...`): durable.lang has no type hints, and its
# expression objects have no public class to name, so they are typed as Any under this one name.
Condition = Any

SUMMARY_LIMIT = 139  # CDS Hooks: a card summary is fewer than 140 characters


def is_set(attribute: Condition) -> Condition:
    """A flag of a fact is true. durable-rules compares with ==, so the comparison is written once, here."""
    return attribute == True


def is_unset(attribute: Condition) -> Condition:
    """A flag of a fact is false."""
    return attribute == False


def patient_on_naltrexone() -> Condition:
    """The patient has a current or proposed naltrexone product that blocks opioids."""
    return c.patient << ((m.kind == "patient") & is_set(m.naltrexone_current))


def medication_of_this_patient(condition: Condition) -> Condition:
    """A medication fact joined to the patient fact by equality (the only join the engine handles safely)."""
    return (m.kind == "medication") & condition & (m.pid == c.patient.pid)


def _position(fact):
    """A medication fact's position in the caller's list (its fact id is "medication-<index>")."""
    return int(fact["id"].rpartition("-")[2]) if fact["id"].startswith("medication-") else -1


def ids_of(findings: Findings, alias: str) -> list[str]:
    """The caller's ids of the facts matched under an alias, in the caller's list order."""
    facts = sorted((f[alias] for f in findings if alias in f), key=_position)
    return list(dict.fromkeys(fact["ref"] for fact in facts))


def names_of(context: RuleContext, ids: Iterable[str]) -> list[str]:
    """The caller's own strings for medication ids, for the alert text (a coded line by its display)."""
    return [context.medications[i].name for i in ids]


def join_names(names: Iterable[str], limit: int = 3) -> str:
    """'a', 'a and b', 'a, b and 2 more'."""
    names = list(dict.fromkeys(names))
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else ""


def short(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Trim a summary to the card limit on a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "\u2026"


def summary_with_names(template: str, names: Sequence[str], limit: int = SUMMARY_LIMIT) -> str:
    """Fill a summary with as many names as fit under the card limit."""
    for count in (3, 2, 1):
        text = template.format(names=join_names(names, count))
        if len(text) <= limit:
            return text
    return short(template.format(names=join_names(names, 1)), limit)


def medication_explanation(
    context: RuleContext,
    ids: Sequence[str],
    summary: str,
    rationale: str,
    recommendation: str,
    extra_ids: Iterable[str] = (),
) -> Explanation:
    """The usual alert about some of the caller's medications: a summary template with {names}, plain text."""
    return Explanation(
        summary=summary_with_names(summary, names_of(context, ids)),
        rationale=rationale,
        recommendation=recommendation,
        medications=tuple(extra_ids) + tuple(ids),
    )


def thresholds() -> dict[str, Any]:
    """The named thresholds, for the alert templates ({LDN_MAX_DAILY_MG:g} …), read when the alert is written."""
    from rules import definitions  # noqa: PLC0415 (definitions imports the references, which import nothing here)

    return {name: value for name, value in vars(definitions).items() if name.isupper() and not name.startswith("_")}


# Fills {details} of a Text template: (findings, context, the ids matched under the alias) -> text.
Details = Callable[[Findings, "RuleContext", list[str]], str]


def explain_with(text: Text, alias: str, details: Details | None = None) -> Explain:
    """The explanation of a rule whose words are a Text template over the medications matched under alias;
    details(findings, context, ids) fills {details}."""

    def explain(findings: Findings, context: RuleContext) -> Explanation:
        ids = ids_of(findings, alias)
        values = {**thresholds(), "details": details(findings, context, ids) if details else "", "names": "{names}"}
        return medication_explanation(
            context,
            ids,
            text.summary.format(**values),
            text.rationale.format(**values),
            text.recommendation.format(**values),
        )

    return explain
