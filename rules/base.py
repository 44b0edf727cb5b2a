"""What a rule unit is: its identity, the guideline it encodes, its durable-rules clauses and how it explains itself."""

from dataclasses import dataclass, field

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

    def as_dict(self):
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
    patterns: object  # () -> tuple of durable.lang expressions


@dataclass(frozen=True)
class Explanation:
    """The words of one alert, written by the rule from what matched."""

    summary: str
    rationale: str
    recommendation: str
    medications: tuple = ()


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
    clauses: tuple
    references: tuple
    explain: object  # (findings, patient) -> Explanation; findings are dicts of alias -> fact
    guideline_source: str = "LDN guidance summary"
    notes: tuple = field(default=())

    def catalogue_entry(self):
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
