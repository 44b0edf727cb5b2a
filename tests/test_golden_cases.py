"""Golden request/expected pairs per rule, on both sides of every threshold, through the real HTTP app."""

import json
from pathlib import Path

import pytest

CASES = sorted((Path(__file__).parent / "cases").glob("*/*.json"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_golden_case(check, path):
    case = json.loads(path.read_text())
    body = check(case["request"])
    got = sorted((a["code"], a["severity"], tuple(sorted(a["medications"]))) for a in body["alerts"])
    expected = sorted((e["code"], e["severity"], tuple(sorted(e["medications"]))) for e in case["expect"])
    assert got == expected, json.dumps(body["alerts"], indent=1)


def test_there_are_cases_for_every_rule_code():
    from rules.catalogue import RULES

    covered = {p.parent.name for p in CASES} | {
        json.loads(p.read_text())["expect"][i]["code"] for p in CASES for i in range(len(json.loads(p.read_text())["expect"]))
    }
    assert {rule.code for rule in RULES} <= covered
