"""What a rule unit is: its identity, the guideline it encodes, its durable-rules clauses and how it explains itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rules.common import Condition
    from service.checker import RuleContext

SEVERITIES = ("critical", "high", "moderate", "low", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Reference:
    """One piece of evidence a rule cites; only what can be checked."""

    id: str
    title: str
    citation: str
    url: str | None = None
    pmid: str | None = None
    doi: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The reference as it appears in alerts and the catalogue."""
        out = {"id": self.id, "title": self.title, "citation": self.citation}
        for key in ("url", "pmid", "doi"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class Clause:
    """One durable-rules declaration: a name and a function returning the when_all patterns."""

    name: str
    patterns: Callable[[], tuple[Condition, ...]]  # () -> the when_all patterns (durable.lang expressions)


@dataclass(frozen=True)
class Explanation:
    """The words of one alert, written by the rule from what matched."""

    summary: str
    rationale: str
    recommendation: str
    medications: tuple[str, ...] = ()


# What a rule's explanation is given: one dict per match of one of its clauses, alias -> the matched fact.
Findings = list[dict[str, dict[str, Any]]]
# A rule's explanation: (findings, context) -> Explanation.
Explain = Callable[[Findings, "RuleContext"], Explanation]


@dataclass(frozen=True)
class Text:
    """The words of an alert as templates: {names} in the summary; {doses}, {days} and the named thresholds in
    the rationale and recommendation (see rules.common.explain_with)."""

    summary: str
    rationale: str
    recommendation: str


@dataclass(frozen=True)
class Rule:
    """One rule unit: identity, the guideline sentence, plain When/Then, clauses, references, explanation."""

    id: str
    code: str
    severity: str
    summary: str
    guideline: str
    when: str
    then: str
    clauses: tuple[Clause, ...]
    references: tuple[Reference, ...]
    explain: Explain  # (findings, context) -> Explanation; findings are dicts of alias -> fact
    guideline_source: str = "LDN guidance summary"
    notes: tuple[str, ...] = field(default=())

    def catalogue_entry(self) -> dict[str, Any]:
        """What GET /v1/rules says of this rule."""
        return {
            "id": self.id,
            "code": self.code,
            "severity": self.severity,
            "summary": self.summary,
            "guideline": self.guideline,
            "guideline_source": self.guideline_source,
            "when": self.when,
            "then": self.then,
            "references": [ref.as_dict() for ref in self.references],
        }
