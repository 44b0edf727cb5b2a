"""Golden request/expected pairs per rule, on both sides of every threshold, through the real HTTP app."""

import json
from pathlib import Path

import pytest

from rules.catalogue import RULES

CASES = sorted((Path(__file__).parent / "cases").glob("*/*.json"))


def load(path):
    return json.loads(path.read_text())


def alerts_key(alerts):
    """What a golden case pins of each alert: rule, code, severity and the caller's medication ids."""
    return sorted((a["rule"], a["code"], a["severity"], tuple(sorted(a["medications"]))) for a in alerts)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_golden_case(check, path):
    case = load(path)
    body = check(case["request"])
    assert alerts_key(body["alerts"]) == alerts_key(case["expect"]), json.dumps(body["alerts"], indent=1)


def test_every_rule_has_a_case_that_fires_it():
    fired = {alert["rule"] for path in CASES for alert in load(path)["expect"]}
    assert {rule.id for rule in RULES} <= fired, sorted({rule.id for rule in RULES} - fired)
