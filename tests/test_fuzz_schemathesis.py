"""Contract fuzzing: schemathesis against openapi.yaml and the real app (WSGI, the same Flask app gunicorn serves).

Every operation of the served document, positive and negative generation, every built-in check schemathesis
has for responses (server errors, status codes, content types, response headers, response schema, acceptance
of valid data and rejection of invalid data …), a fixed seed (derandomize) so CI is reproducible.

The only cases left out are the few the document states in words because JSON Schema cannot say them (unique
medication ids, end_date not before start_date, no unassigned or private-use code points): in positive mode
they would be "valid" bodies the service rightly refuses. tests/test_api.py covers each of them with a 422.
"""

import json
import unicodedata

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, NegativeDataRejectionConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service import create_app
from tests import strategies
from tests.contract import OPENAPI

MAX_EXAMPLES = 200
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # a fixed seed: the same cases on every run
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

APP = create_app({"TESTING": True})
# The same file the app serves at GET /openapi.yaml (tests/test_api.py checks that); loaded from disk because
# from_wsgi("/openapi.yaml") leaves the schema's own URL out of the operations.
schema = schemathesis.openapi.from_path(OPENAPI)
schema.app = APP  # what from_wsgi does: every call goes through the real Flask app, in process
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# A body over the documented 1 MiB limit is refused with 413 (openapi.yaml) before its fields are read: for a
# negative case that is too large, 413 is the rejection, as 422 is for one that fits.
schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(
    expected_statuses=[*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
)

_REFUSED_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def breaks_a_rule_in_words(body):
    """True when a body breaks a documented constraint that JSON Schema cannot express."""
    if not isinstance(body, dict):
        return False
    for text in _strings(body):
        if any(unicodedata.category(ch) in _REFUSED_CATEGORIES and ch not in "\t\n\r" for ch in text):
            return True
    meds = body.get("medications")
    if isinstance(meds, list):
        ids = [med.get("id", str(index)) if isinstance(med, dict) else str(index) for index, med in enumerate(meds)]
        if len(set(map(json.dumps, ids))) != len(ids):
            return True
        for med in meds:
            if (
                isinstance(med, dict)
                and isinstance(med.get("start_date"), str)
                and isinstance(med.get("end_date"), str)
            ):
                if med["end_date"] < med["start_date"]:
                    return True
    return False


@schema.hook
def filter_case(context, case):
    """Keep every negative case; drop positive cases that are only invalid by a rule stated in words."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return True
    return not breaks_a_rule_in_words(case.body if isinstance(case.body, (dict, list)) else None)


def test_the_fuzzer_sees_every_operation_of_the_document(contract):
    """Nothing in openapi.yaml escapes the fuzzing (CDS Hooks paths included once they are documented)."""
    documented = {
        (path, method.upper())
        for path, item in contract.document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    fuzzed = {(op.ok().path, op.ok().method.upper()) for op in schema.get_all_operations()}
    assert fuzzed == documented and ("/v1/check", "POST") in fuzzed


# The try-it page (POST /) takes free-text form fields and documents its 422 page in words ("lists each
# problem"): a string that is not a date is "schema-valid" there, so the positive-acceptance check does not
# apply to it. Every other check still runs on it.
NOT_APPLICABLE = {("POST", "/"): [positive_data_acceptance]}


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_conforms_to_the_contract(case):
    """All of schemathesis's checks (its default set is every built-in check) on every generated case."""
    excluded = NOT_APPLICABLE.get((case.operation.method.upper(), case.operation.path), [])
    case.call_and_validate(excluded_checks=excluded)


CHECK = schema["/v1/check"]["POST"]


@pytest.mark.parametrize(
    "body",
    [
        {"as_of": "2026-11-25", "medications": [{"name": "x", "start_date": "2026-03-01", "end_date": "2026-02-01"}]},
        {"medications": [{"id": "1", "name": "x"}, {"name": "y"}]},
        {"medications": [{"name": "oxy\u202ecodone"}]},
        {"medications": [{"name": "oxy\U000e0001codone"}]},
    ],
)
def test_rules_stated_in_words_are_the_filtered_ones_and_are_refused(client, body):
    """The filter above drops exactly what the service refuses with 422 (so it hides no 500)."""
    assert breaks_a_rule_in_words(body)
    assert client.post("/v1/check", json=body).status_code == 422


@given(body=strategies.check_request())
@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_realistic_lists_through_schemathesis_checks(body):
    """Our realistic medication lists, sent and judged by schemathesis: they reach the rules, and conform."""
    case = CHECK.Case(body=body, media_type="application/json")
    response = case.call_and_validate()
    assert response.status_code == 200, response.text
    assert response.json()["as_of"] == "2026-11-25"


@given(data=st.data())
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_schemathesis_bodies_seeded_with_real_names(data):
    """Schemathesis's own generated bodies with real medication names swapped in, so the fuzzing hits the rules."""
    case = data.draw(CHECK.as_strategy(generation_mode=GenerationMode.POSITIVE))
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("medications"), list):
        for med in body["medications"]:
            if isinstance(med, dict) and "name" in med:
                med["name"] = data.draw(st.sampled_from(strategies.OPIOIDS + strategies.NALTREXONE))
    if breaks_a_rule_in_words(body):
        return
    case.body = body
    response = case.call_and_validate()
    assert response.status_code == 200, response.text
