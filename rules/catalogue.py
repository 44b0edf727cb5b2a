"""The rule catalogue: every rule unit, in the order the engine declares them and the catalogue lists them."""

from typing import Any

from rules import (
    definitions,
    duplicate_naltrexone,
    ldn_protocol,
    opioid_dependence,
    opioid_exposure,
    opioid_free_interval,
    opioid_use,
    procedures,
    tablet_splitting,
    unrecognized,
)
from rules.base import Rule

RULESET_NAME = "ldn-safety"
RULESET_VERSION = "1.0.0"

RULES: tuple[Rule, ...] = (
    opioid_dependence.RULE,
    opioid_free_interval.RULE_CRITICAL,
    opioid_use.RULE_FULL_DOSE,
    opioid_use.RULE,
    unrecognized.POSSIBLE_OPIOID,
    opioid_free_interval.RULE_HIGH,
    opioid_free_interval.RULE_MODERATE,
    duplicate_naltrexone.RULE_HIGH,
    tablet_splitting.RULE,
    duplicate_naltrexone.RULE_MODERATE,
    opioid_exposure.SIGNAL,
    opioid_exposure.SAMIDORPHAN,
    procedures.RULE,
    *ldn_protocol.RULES,
    opioid_dependence.USE_DISORDER_RULE,
    opioid_dependence.HISTORY_RULE,
    unrecognized.PARTIAL,
    unrecognized.RULE,
)

RULES_BY_ID = {rule.id: rule for rule in RULES}


def catalogue() -> list[dict[str, Any]]:
    """The rules as GET /v1/rules returns them."""
    return [rule.catalogue_entry() for rule in RULES]


def definition_catalogue() -> list[dict[str, Any]]:
    """The named definitions the rules are built from, with the references they rest on."""
    return [entry.as_dict() for entry in definitions.catalogue()]


def sources() -> list[dict[str, str]]:
    """Every reference any rule or definition cites, once, by id."""
    found: dict[str, dict[str, str]] = {}
    for rule in RULES:
        for ref in rule.references:
            found.setdefault(ref.id, ref.as_dict())
    for entry in definitions.catalogue():
        for ref in entry.sources:
            found.setdefault(ref.id, ref.as_dict())
    return list(found.values())
