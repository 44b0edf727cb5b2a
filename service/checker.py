"""The one pipeline every door uses: normalise the medications, build facts, run the engine, explain the alerts."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rules.base import SEVERITY_RANK
from rules.catalogue import RULES, RULESET_NAME, RULESET_VERSION
from rules.facts import build_facts, rounded
from rules.knowledge.conditions import read_condition
from rules.knowledge.normalise import normalise_medication
from rules.knowledge.recognize import close_spellings
from rules.knowledge.vocabulary import load_vocabulary
from service.engine import RuleEngine

if TYPE_CHECKING:
    from rules.base import Findings, Rule
    from rules.knowledge.normalise import NormalisedMedication
    from rules.knowledge.vocabulary import Vocabulary
    from service.engine import Finding


@dataclass(frozen=True)
class RuleContext:
    """What a rule's explanation may read: the patient fact, the normalised medications, the check date."""

    patient: dict[str, Any]  # the patient fact (rules.facts.patient_fact)
    medications: dict[str, NormalisedMedication]  # by the caller's id
    as_of: datetime.date
    spellings: dict[
        str, tuple[str, ...]
    ]  # medication id -> close names by spelling (explanation only, never a decision)


@dataclass
class CheckResult:
    """Alerts, the normalised medications and timings of one check."""

    alerts: list[dict[str, Any]]
    medications: list[dict[str, Any]]  # medication_view of each
    as_of: datetime.date
    engine_seconds: float
    normalise_seconds: float
    conditions: list[dict[str, Any]] | None = None  # what each condition was read as, when the request gave conditions


MAX_SPELLED = 10  # unrecognized medications per request that get close spellings (bounded work)


def medication_view(med: NormalisedMedication, spellings: Iterable[str] | None = ()) -> dict[str, Any]:
    """What the service understood of one medication, as the API shows it (absent values omitted)."""
    line_view = med.derived.get("view")
    if line_view is None:
        line_view = med.derived["view"] = _line_view(med)
    recognized, ingredients, classes, read = line_view
    view: dict[str, Any] = {
        "id": med.id,
        "recognized": recognized,
        "ingredients": list(ingredients),
        "classes": list(classes),
        "status": med.status,
        "current": med.current,
    }
    for key, value in read:
        view[key] = list(value) if value.__class__ is tuple else value
    # Rare, and made of objects: built fresh for each answer rather than shared between answers.
    if med.expansions:
        view["read_as"] = [{"term": term, "as": label} for term, label in dict.fromkeys(med.expansions)]
    if med.ambiguities:
        view["ambiguities"] = [
            {
                "term": ambiguity.term,
                "kind": ambiguity.kind,
                "readings": [reading.label for reading in ambiguity.readings],
                "matters": is_open,
            }
            for ambiguity, is_open in med.ambiguities
        ]
    if med.possible_opioid:
        view["possible_opioid"] = True
    if med.assumptions:
        view["assumptions"] = list(med.assumptions)
    if spellings:
        view["suggestions"] = list(spellings)  # the contract's name for close spellings
    return view


LineView = tuple[bool, tuple[str, ...], tuple[str, ...], tuple[tuple[str, Any], ...]]


def _line_view(med: NormalisedMedication) -> LineView:
    """What the view shows of the line alone, in its order: built once per distinct line (lists kept as tuples and
    copied into each answer)."""
    optional = {
        "form": med.form,
        "release": med.release,
        "compounded": med.compounded or None,
        "strength_mg": rounded(med.strength_mg),
        "dose_mg": rounded(med.dose_mg),
        "times_per_day": rounded(med.times_per_day),
        "daily_dose_mg": rounded(med.daily_mg),
        "as_needed": med.as_needed or None,
        "bedtime": med.bedtime,
        "tablet_fraction": rounded(med.tablet_fraction),
    }
    read: list[tuple[str, Any]] = [(key, value) for key, value in optional.items() if value is not None]
    if med.matched:
        read.append(("matched", tuple(dict.fromkeys(med.matched))))
    if med.unmatched:
        read.append(("unmatched_terms", tuple(dict.fromkeys(med.unmatched))))
    if not med.recognized:
        read.append(("recognition", "partial" if med.identified else "none"))
    return med.recognized, tuple(med.ingredients), tuple(sorted(med.classes)), tuple(read)


def condition_view(vocabulary: Vocabulary, condition: Mapping[str, Any]) -> dict[str, Any]:
    """What the service read one condition as: the opioid-related kind, or that it is not opioid-related, or that a
    name mentioning opioids was not understood (never dropped silently)."""
    reading = read_condition(vocabulary, condition)
    return {"name": reading.label, "recognized": reading.understood, "kind": reading.kind}


class Checker:
    """Holds the vocabulary and the compiled rules; check() is safe to call from many threads."""

    def __init__(self, vocabulary_path: str | os.PathLike[str] | None = None, rules: Sequence[Rule] = RULES) -> None:
        self.vocabulary = load_vocabulary(vocabulary_path)
        self.engine = RuleEngine(rules, RULESET_NAME)
        self.rules_by_id = {rule.id: rule for rule in rules}
        self.ruleset = {
            "name": RULESET_NAME,
            "version": RULESET_VERSION,
            "vocabulary_version": self.vocabulary.version,
        }

    def check(self, request: Mapping[str, Any]) -> CheckResult:
        """Evaluate one validated request (the native contract's fields, dates as date objects)."""
        as_of = request.get("as_of") or datetime.datetime.now(datetime.UTC).date()
        started = time.perf_counter()
        medications = [
            normalise_medication(self.vocabulary, med, index, as_of)
            for index, med in enumerate(request.get("medications") or ())
        ]
        facts = build_facts(request.get("patient") or {}, medications, self.vocabulary, as_of)
        normalised = time.perf_counter()
        findings = self.engine.evaluate([facts.patient, *facts.medications])
        evaluated = time.perf_counter()
        spellings = self._spellings(medications)
        context = RuleContext(facts.patient, facts.by_id, as_of, spellings)
        return CheckResult(
            alerts=self._alerts(findings, context, self.rules_by_id),
            medications=[medication_view(m, spellings.get(m.id)) for m in medications],
            as_of=as_of,
            engine_seconds=evaluated - normalised,
            normalise_seconds=normalised - started,
            conditions=[
                condition_view(self.vocabulary, c) for c in (request.get("patient") or {}).get("conditions") or ()
            ],
        )

    def _spellings(self, medications: Iterable[NormalisedMedication]) -> dict[str, tuple[str, ...]]:
        """Close spellings for the first MAX_SPELLED unrecognized names (bounded work per request)."""
        unknown = [m for m in medications if not m.recognized and m.name][:MAX_SPELLED]
        found = {m.id: close_spellings(self.vocabulary, m.name) for m in unknown}
        return {k: v for k, v in found.items() if v}

    @staticmethod
    def _alerts(
        findings: Iterable[Finding], context: RuleContext, rules_by_id: Mapping[str, Rule]
    ) -> list[dict[str, Any]]:
        """One alert per rule that fired, explained by the rule, most severe first."""
        grouped: dict[str, Findings] = {}
        for rule_id, _clause, matched in findings:
            grouped.setdefault(rule_id, []).append(matched)
        alerts: list[dict[str, Any]] = []
        for rule_id, matches in grouped.items():
            rule = rules_by_id[rule_id]
            explanation = rule.explain(matches, context)
            alerts.append(
                {
                    "code": rule.code,
                    "rule": rule.id,
                    "severity": rule.severity,
                    "summary": explanation.summary,
                    "rationale": explanation.rationale,
                    "recommendation": explanation.recommendation,
                    "medications": list(dict.fromkeys(explanation.medications)),
                    "references": [ref.as_dict() for ref in rule.references],
                }
            )
        alerts.sort(key=lambda alert: (SEVERITY_RANK[alert["severity"]], alert["rule"]))
        return alerts
