"""The rule catalogue: every rule unit, in the order the engine declares them and the catalogue lists them."""

from rules import (
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

RULESET_NAME = "ldn-safety"
RULESET_VERSION = "1.0.0"

RULES = (
    opioid_dependence.RULE,
    opioid_free_interval.RULE_CRITICAL,
    opioid_use.RULE,
    unrecognized.POSSIBLE_OPIOID,
    opioid_free_interval.RULE_HIGH,
    duplicate_naltrexone.RULE_HIGH,
    tablet_splitting.RULE,
    duplicate_naltrexone.RULE_MODERATE,
    opioid_exposure.SIGNAL,
    opioid_exposure.SAMIDORPHAN,
    procedures.RULE,
    *ldn_protocol.RULES,
    opioid_dependence.HISTORY_RULE,
    unrecognized.PARTIAL,
    unrecognized.RULE,
)

RULES_BY_ID = {rule.id: rule for rule in RULES}


def catalogue():
    """The catalogue as GET /v1/rules returns it."""
    return [rule.catalogue_entry() for rule in RULES]
