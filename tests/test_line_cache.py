"""A line is read once per process: the cached reading never changes an answer, and nothing of one request (its
ids, statuses, dates, as_of) reaches another that sends the same line."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings

from rules.knowledge import normalise
from schemas.check import RXNORM, CheckRequestSchema
from service.checker import Checker
from tests.strategies import check_request

CASES = sorted((Path(__file__).resolve().parent / "cases").glob("*/*.json"))
SCHEMA = CheckRequestSchema(500)


@pytest.fixture(scope="module")
def checker():
    return Checker()


def answer(checker, body):
    """The whole answer a check gives (alerts and what each medication was read as), as JSON would carry it."""
    result = checker.check(SCHEMA.load(copy.deepcopy(body)))
    return json.loads(json.dumps({"alerts": result.alerts, "medications": result.medications}, default=str))


def cold_answer(checker, body):
    normalise._read_line.cache_clear()
    return answer(checker, body)


def test_every_golden_case_answers_the_same_cold_and_after_all_the_others(checker):
    """Each case checked with an empty line cache, then all of them again in one warm pass (cases share lines)."""
    bodies = [json.loads(path.read_text())["request"] for path in CASES]
    cold = [cold_answer(checker, body) for body in bodies]
    warm = [answer(checker, body) for body in bodies]
    assert normalise._read_line.cache_info().hits > 0  # the warm pass did reuse readings
    for path, first, second in zip(CASES, cold, warm, strict=True):
        assert second == first, path.name


@settings(max_examples=150, deadline=None)
@given(check_request(), check_request())
def test_a_request_after_another_answers_as_it_does_alone(checker, first, second):
    """Whatever was read before (sharing lines or not), a request's answer is its answer alone."""
    alone = cold_answer(checker, second)
    answer(checker, first)
    assert answer(checker, second) == alone


LINE = {"name": "oxyCODONE 5 mg tablet", "instructions": "take 1 tablet every 6 hours as needed"}


def test_the_same_line_keeps_each_request_s_own_id_status_and_dates(checker):
    """One line, three lists: the id, status, dates and what they imply stay with their own request."""
    ldn = {"id": "n", "name": "naltrexone 4.5 mg capsule", "compounded": True}
    stopped = {"as_of": "2026-11-25", "medications": [ldn, {**LINE, "id": "a", "end_date": "2026-11-01"}]}
    current = {"as_of": "2026-11-25", "medications": [ldn, {**LINE, "id": "b", "status": "proposed"}]}
    filled = {
        "as_of": "2026-11-25",
        "medications": [ldn, {**LINE, "id": "c", "dispensed_on": "2026-11-20", "days_supply": 30}],
    }
    normalise._read_line.cache_clear()
    views = {}
    for body in (stopped, current, filled, stopped):
        views = {med["id"]: med for med in answer(checker, body)["medications"]} | views
    assert normalise._read_line.cache_info().hits >= 3
    assert (views["a"]["status"], views["a"]["current"]) == ("completed", False)
    assert views["a"]["assumptions"] == ["treated as completed (end date before as_of)"]
    assert (views["b"]["status"], views["b"]["current"]) == ("proposed", True)
    assert "assumptions" not in views["b"]
    assert (views["c"]["status"], views["c"]["current"]) == ("active", True)
    assert "assumptions" not in views["c"]
    assert {view["ingredients"][0] for view in views.values() if view["id"] != "n"} == {"oxycodone"}


@pytest.mark.parametrize(
    "change",
    [
        {"instructions": "take 2 tablets every 6 hours"},
        {"dose": {"value": 10, "unit": "mg"}},
        {"frequency": "twice daily"},
        {"strength": {"value": 10, "unit": "mg"}},
        {"timing": "at bedtime"},
        {"form": "oral solution"},
        {"compounded": True},
        {"codes": [{"system": RXNORM, "code": "1233700"}]},  # a hydromorphone product: another ingredient
    ],
)
def test_a_change_to_any_line_field_is_read_again(checker, change):
    """The cache key is every field the reading uses: change one and the line is read anew."""
    before = answer(checker, {"as_of": "2026-11-25", "medications": [LINE]})["medications"][0]
    changed = {**LINE, **change}
    after = answer(checker, {"as_of": "2026-11-25", "medications": [changed]})["medications"][0]
    assert after == cold_answer(checker, {"as_of": "2026-11-25", "medications": [changed]})["medications"][0]
    assert after != before
