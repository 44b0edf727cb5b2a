"""The durable-rules adapter: isolation between requests, loud failures, and only safe joins in the rules."""

import datetime
import json

import pytest
from durable.engine import Promise
from durable.lang import m

from rules.base import Clause, Rule
from rules.catalogue import RULES
from rules.references import LDN_GUIDANCE
from service.checker import Checker
from service.engine import EngineError, RuleEngine

AS_OF = datetime.date(2026, 11, 25)
_COMPARISONS = {"$lt", "$lte", "$gt", "$gte", "$neq", "$nex"}


def _references(node, aliases):
    """True when a condition node compares against another fact ({"alias": "field"} on the right)."""
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)) in aliases


def _non_equality_joins(node, aliases, operator=None):
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _COMPARISONS and isinstance(value, dict):
                found += [(key, v) for v in value.values() if _references(v, aliases)]
            found += _non_equality_joins(value, aliases, key)
    elif isinstance(node, list):
        for item in node:
            found += _non_equality_joins(item, aliases, operator)
    return found


def test_no_rule_uses_a_non_equality_join():
    """durable-rules crashes at random on <, >, != between two facts: rules may only join on equality."""
    engine = Checker().engine
    offenders = {}
    for name, rule in engine.definition.items():
        patterns = rule.get("all", [])
        aliases = {next(iter(p)).split("$")[0] for p in patterns}
        joins = _non_equality_joins(patterns, aliases)
        if joins:
            offenders[name] = joins
    assert offenders == {}


def test_the_join_guard_catches_a_non_equality_join():
    """The guard above can fail: a rule comparing two facts with < is reported."""
    from durable.lang import c

    rule = Rule(
        id="TEST-NEQ",
        code="test",
        severity="info",
        summary="s",
        guideline="g",
        when="w",
        then="t",
        clauses=(Clause("lt_join", lambda: (c.a << (m.kind == "x"), c.b << ((m.kind == "y") & (m.n < c.a.n)))),),
        references=(LDN_GUIDANCE,),
        explain=None,
    )
    engine = RuleEngine([rule], "join-guard-test")
    assert any(_non_equality_joins(r["all"], {"a", "b"}) for r in engine.definition.values())


def test_sessions_where_no_rule_fires_are_deleted_safely():
    """durable-rules frees uninitialised pointers when a session that ran no consequence is deleted; the
    sentinel rule prevents it. Many sessions with nothing to report, in a fresh engine, must not crash."""
    engine = RuleEngine(RULES, "quiet-sessions-test")
    for _ in range(2000):
        assert engine.evaluate([{"kind": "patient", "id": "patient", "pid": "patient"}]) == []


def test_an_evaluation_without_the_patient_fact_is_refused():
    engine = RuleEngine(RULES, "no-patient-test")
    with pytest.raises(EngineError):
        engine.evaluate([{"kind": "medication", "id": "m", "pid": "patient"}])


def test_every_rule_unit_is_complete():
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.clauses and rule.references and rule.guideline and rule.when and rule.then
        assert rule.severity in {"critical", "high", "moderate", "low", "info"}


def test_sessions_do_not_leak_between_requests():
    """A naltrexone fact from one request never joins an opioid fact from another."""
    checker = Checker()
    ldn = {"as_of": AS_OF, "medications": [{"id": "a", "name": "naltrexone 4.5 mg capsule", "compounded": True}]}
    opioid = {"as_of": AS_OF, "medications": [{"id": "b", "name": "oxycodone 5 mg tablet"}]}
    for _ in range(50):
        assert [a["code"] for a in checker.check(ldn).alerts] in ([], ["dose-timing"])
        assert checker.check(opioid).alerts == []


def test_thousands_of_sessions_are_created_and_deleted():
    """The engine allows 1,024 live sessions: each evaluation must delete its own."""
    checker = Checker()
    request = {
        "as_of": AS_OF,
        "medications": [
            {"id": "a", "name": "naltrexone 4.5 mg capsule", "compounded": True},
            {"id": "b", "name": "Percocet"},
        ],
    }
    for _ in range(3000):
        assert [a["code"] for a in checker.check(request).alerts] == ["opioid-use"]


def _raise_inside_the_engine(engine):
    """Make every compiled consequence raise, as a bug in a consequence would."""

    def broken_consequence(closure):
        raise ValueError("consequence failed")

    for name in engine._ruleset._actions:
        engine._ruleset._actions[name] = Promise(broken_consequence)


def test_a_consequence_that_raises_fails_the_evaluation():
    """durable-rules swallows consequence exceptions into the state: the adapter must raise them."""
    engine = RuleEngine(RULES, "consequence-fault-test")
    _raise_inside_the_engine(engine)
    with pytest.raises(EngineError):
        engine.evaluate(
            [{"kind": "patient", "pid": "p", "id": "p", "naltrexone_current": True, "dependence_diagnosis": True}]
        )


def _app_with(checker):
    from service import create_app

    app = create_app()
    app.extensions["ldn_pipeline"].checker = checker
    return app.test_client()


DEPENDENT_ON_LDN = {
    "medications": [{"name": "naltrexone 4.5 mg capsule", "compounded": True}, {"name": "Percocet"}],
    "patient": {"opioid_dependence": True},
}


def _assert_internal_problem(response):
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert "alerts" not in body and "Traceback" not in json.dumps(body)


def test_an_engine_failure_is_a_500_problem_never_a_partial_200():
    checker = Checker()
    _raise_inside_the_engine(checker.engine)
    _assert_internal_problem(_app_with(checker).post("/v1/check", json=DEPENDENT_ON_LDN))


def test_a_rule_whose_explanation_raises_is_a_500_problem():
    def explode(findings, context):
        raise RuntimeError("explanation failed")

    exploding = Rule(
        id="TEST-BOOM",
        code="test",
        severity="info",
        summary="s",
        guideline="g",
        when="w",
        then="t",
        clauses=(Clause("any_patient", lambda: ((m.kind == "patient"),)),),
        references=(LDN_GUIDANCE,),
        explain=explode,
    )
    _assert_internal_problem(_app_with(Checker(rules=(*RULES, exploding))).post("/v1/check", json=DEPENDENT_ON_LDN))


def test_findings_carry_our_rule_ids_not_engine_positions():
    checker = Checker()
    request = {
        "as_of": AS_OF,
        "medications": [
            {"id": "a", "name": "naltrexone 4.5 mg capsule", "compounded": True},
            {"id": "b", "name": "Percocet"},
        ],
    }
    alerts = checker.check(request).alerts
    assert alerts[0]["rule"] == "LDN-OPI-001"


@pytest.mark.parametrize("ids", [("méd-ü", "ω-2"), ("😀 ldn", "line\u2028sep"), ("'quote\"", "back\\slash")])
def test_caller_ids_of_any_script_come_back_from_the_engine_unchanged(ids):
    """Facts reach the C core as UTF-8 JSON: the alert must name the caller's ids exactly as sent."""
    checker = Checker()
    request = {
        "as_of": AS_OF,
        "medications": [
            {"id": ids[0], "name": "naltrexone 4.5 mg capsule", "compounded": True},
            {"id": ids[1], "name": "Percocet"},
        ],
    }
    (alert,) = checker.check(request).alerts
    assert alert["code"] == "opioid-use"
    assert set(alert["medications"]) == set(ids)
