"""Every named threshold is pinned by the golden cases: move any one of them and some golden case must fail.

The cases sit on both sides of each threshold (6 and 7 days, 27 and 28 days, 4.5 and 5 mg …); a threshold no
case pins is a rule nobody has checked. Each mutation builds a fresh app, because rule bodies read the
thresholds when the engine is built and facts read them on every request.
"""

import json

import pytest

import service
from rules import definitions
from service import create_app
from tests.test_golden_cases import CASES, alerts_key

# How far each threshold is moved: one day for day counts, the next realistic dose for doses.
STEPS = {
    "LDN_MIN_DAILY_MG": 0.5,
    "LDN_MAX_DAILY_MG": 0.5,
    "LDN_REVIEW_MAX_DAILY_MG": 0.5,
    "STANDARD_INDUCTION_MG": 5.0,
    "STANDARD_DAILY_MG": 5.0,
    "STANDARD_WEEKLY_MAX_MG": 50.0,
    "OPIOID_FREE_MIN_DAYS": 1,
    "OPIOID_FREE_DAYS": 1,
    "OPIOID_FREE_DAYS_AFTER_MAINTENANCE": 1,
    "ER_INJECTION_INTERVAL_DAYS": 1,
    "BENEFIT_DAYS": 1,
    "EVALUATION_DAYS": 1,
}


def numeric_thresholds():
    return sorted(
        n for n, v in vars(definitions).items() if n.isupper() and not n.startswith("_") and isinstance(v, (int, float))
    )


def failing_cases(monkeypatch):
    """The golden cases the current definitions get wrong, through a new app with its own checker."""
    monkeypatch.setattr(service, "_CHECKERS", {})  # the process-wide checker was built with other thresholds
    client = create_app({"TESTING": True}).test_client()
    wrong = []
    for path in CASES:
        case = json.loads(path.read_text())
        alerts = client.post("/v1/check", json=case["request"]).get_json()["alerts"]
        if alerts_key(alerts) != alerts_key(case["expect"]):
            wrong.append(path.stem)
    return wrong


def test_every_numeric_threshold_has_a_step():
    assert numeric_thresholds() == sorted(STEPS)


@pytest.mark.parametrize("direction", [-1, 1], ids=["lower", "higher"])
@pytest.mark.parametrize("name", sorted(STEPS))
def test_moving_a_threshold_fails_a_golden_case(monkeypatch, name, direction):
    monkeypatch.setattr(definitions, name, getattr(definitions, name) + direction * STEPS[name])
    assert failing_cases(monkeypatch), f"no golden case notices {name} moved {'up' if direction > 0 else 'down'}"


@pytest.mark.parametrize("index", range(len(definitions.STANDARD_INTERMITTENT_DOSES_MG)))
def test_dropping_an_intermittent_standard_dose_fails_a_golden_case(monkeypatch, index):
    doses = list(definitions.STANDARD_INTERMITTENT_DOSES_MG)
    del doses[index]
    monkeypatch.setattr(definitions, "STANDARD_INTERMITTENT_DOSES_MG", tuple(doses))
    assert failing_cases(monkeypatch)


def test_the_unmutated_definitions_pass_every_golden_case(monkeypatch):
    assert failing_cases(monkeypatch) == []
