"""The native contract: success shape, every error as a problem document, limits, and openapi.yaml itself."""

import json
import re

import pytest
from openapi_spec_validator import validate as validate_spec

from schemas.check import CheckRequestSchema, CheckResponseSchema
from service.requests import JSONTextError, decode_json

NALTREXONE = {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"}
OXYCODONE = {"id": "oxy", "name": "oxyCODONE-acetaminophen (PERCOCET) 5-325 MG per tablet"}


def problem(response, status):
    """Assert a problem document with the given status and return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    return body


def test_openapi_document_is_valid_openapi_3_1(contract):
    validate_spec(contract.document)
    assert contract.document["openapi"].startswith("3.1")


def test_request_examples_load_with_the_marshmallow_schema(contract):
    examples = contract.document["paths"]["/v1/check"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert examples
    for example in examples.values():
        contract.validate("#/components/schemas/CheckRequest", example["value"])
        CheckRequestSchema().load(example["value"])  # raises if the two contracts disagree


def test_response_examples_match_the_document_and_the_marshmallow_schema(contract):
    examples = contract.document["paths"]["/v1/check"]["post"]["responses"]["200"]["content"]["application/json"][
        "examples"
    ]
    for example in examples.values():
        contract.validate("#/components/schemas/CheckResponse", example["value"])
        CheckResponseSchema().load(example["value"])


def test_a_real_answer_matches_both_contracts(check):
    body = check({"as_of": "2026-11-25", "medications": [NALTREXONE, OXYCODONE]})
    CheckResponseSchema().load(body)
    assert [a["code"] for a in body["alerts"]] == ["opioid-use"]
    alert = body["alerts"][0]
    assert alert["medications"] == ["ldn", "oxy"]
    assert alert["references"] and len(alert["summary"]) < 140
    assert [m["id"] for m in body["medications"]] == ["ldn", "oxy"]
    assert body["ruleset"]["name"] == "ldn-safety" and body["ruleset"]["vocabulary_version"]


def test_empty_list_is_no_advice_not_an_error(check):
    body = check({"medications": []})
    assert body["alerts"] == [] and body["medications"] == []


def test_default_ids_are_indexes_and_as_of_defaults_to_today(check):
    body = check({"medications": [{"name": "lisinopril"}, {"name": "metformin"}]})
    assert [m["id"] for m in body["medications"]] == ["0", "1"]
    assert len(body["as_of"]) == 10


def test_rules_catalogue_lists_every_rule(client, contract):
    response = client.get("/v1/rules")
    contract.validate_response("/v1/rules", "get", response)
    rules = response.get_json()["rules"]
    assert len({r["id"] for r in rules}) == len(rules) >= 15
    codes = {r["code"] for r in rules}
    for code in (
        "opioid-use",
        "opioid-dependence",
        "opioid-free-interval",
        "tablet-splitting",
        "dose-range",
        "titration",
        "dose-timing",
        "duplicate-naltrexone",
        "unrecognized-medication",
    ):
        assert code in codes


def test_the_catalogue_shows_the_named_definitions_with_their_current_thresholds(client):
    from rules import definitions

    body = client.get("/v1/rules").get_json()
    by_name = {d["name"]: d for d in body["definitions"]}
    assert {
        "low-dose use",
        "standard-dose therapy",
        "current naltrexone",
        "naltrexone start",
        "last opioid use",
        "opioid-free interval",
    } <= set(by_name)
    assert f"{definitions.ER_INJECTION_INTERVAL_DAYS} days" in by_name["current naltrexone"]["meaning"]
    from rules.catalogue import sources

    known = {ref["id"] for ref in sources()}
    assert all(source in known for d in body["definitions"] for source in d["sources"])


def test_every_cited_article_has_a_pmid_or_doi(client):
    from rules.catalogue import sources

    articles = [ref for ref in sources() if re.search(r"-\d{4}$", ref["id"])]  # author-year ids: journal articles
    assert len(articles) >= 6 and all(ref.get("pmid") or ref.get("doi") for ref in articles), articles


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints(client, contract, path):
    response = client.get(path)
    assert response.status_code == 200
    contract.validate_response(path, "get", response)


def test_openapi_is_served(client):
    response = client.get("/openapi.yaml")
    assert response.status_code == 200 and b"openapi: 3.1.0" in response.data


@pytest.mark.parametrize(
    ("value", "deeper"),
    [
        ("[" * 32 + "]" * 32, False),  # the limit itself
        ("[" * 33 + "]" * 33, True),
        ('{"a":' * 32 + "1" + "}" * 32, False),
        ('{"a":' * 33 + "1" + "}" * 33, True),
        ('[{"a": [' * 11 + "]}]" * 11, True),  # 33 levels mixing arrays and objects
        ('[{"a": [' * 10 + "[[]]" + "]}]" * 10, False),  # 30 levels, then 2 more: exactly the limit
        ('["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["' + ", []" * 40 + "]", False),  # brackets in strings, many siblings
    ],
)
def test_the_nesting_limit_is_exact(value, deeper):
    """MAX_DEPTH nested levels pass and one more is refused, whether arrays, objects or both."""
    if deeper:
        with pytest.raises(JSONTextError, match="nested too deeply"):
            decode_json(value.encode())
    else:
        decode_json(value.encode())


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b'{"medications": [', "application/json", 400),
        (b"", "application/json", 400),
        (b"not json", "application/json", 400),
        (b'{"medications": [{"name": "x", "dose": {"value": NaN, "unit": "mg"}}]}', "application/json", 400),
        (b'{"medications": [{"name": "x", "dose": {"value": Infinity, "unit": "mg"}}]}', "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        (b"[" * 100 + b"]" * 100, "application/json", 400),
        (b'{"medications": []}', "text/plain", 415),
        (b'{"medications": []}', "application/x-www-form-urlencoded", 415),
        (b'{"medications": []}', None, 415),
        (b"[]", "application/json", 422),
        (b"null", "application/json", 422),
        (b'"medications"', "application/json", 422),
    ],
)
def test_malformed_bodies_are_problems(client, data, content_type, status):
    headers = {"Content-Type": content_type} if content_type else {}
    problem(client.post("/v1/check", data=data, headers=headers), status)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "medications"),
        ({"medications": None}, "medications"),
        ({"medications": {}}, "medications"),
        ({"medications": [None]}, "medications[0]"),
        ({"medications": [{}]}, "medications[0].name"),
        ({"medications": [{"dosage": {"value": 1, "unit": "mg"}, "name": "x"}]}, "medications[0].dosage"),
        ({"medications": [{"name": 5}]}, "medications[0].name"),
        ({"medications": [{"name": ""}]}, "medications[0].name"),
        ({"medications": [{"name": "   "}]}, "medications[0].name"),
        ({"medications": [{"name": "x" * 501}]}, "medications[0].name"),
        ({"medications": [{"name": "oxy\u0000codone"}]}, "medications[0].name"),
        ({"medications": [{"name": "oxy\u202ecodone"}]}, "medications[0].name"),
        ({"medications": [{"name": "oxy\u200fcodone"}]}, "medications[0].name"),
        ({"medications": [{"name": "x", "dose": {"value": 0, "unit": "mg"}}]}, "medications[0].dose.value"),
        ({"medications": [{"name": "x", "dose": {"value": -1, "unit": "mg"}}]}, "medications[0].dose.value"),
        ({"medications": [{"name": "x", "dose": {"value": 1e308, "unit": "mg"}}]}, "medications[0].dose.value"),
        ({"medications": [{"name": "x", "dose": {"value": "5", "unit": "mg"}}]}, "medications[0].dose.value"),
        ({"medications": [{"name": "x", "dose": {"value": True, "unit": "mg"}}]}, "medications[0].dose.value"),
        ({"medications": [{"name": "x", "dose": {"value": 5, "unit": "furlongs"}}]}, "medications[0].dose.unit"),
        ({"medications": [{"name": "x", "strength": {"value": 5, "unit": "tablet"}}]}, "medications[0].strength.unit"),
        ({"medications": [{"name": "x", "dose": None}]}, "medications[0].dose"),
        ({"medications": [{"name": "x", "status": "paused"}]}, "medications[0].status"),
        ({"medications": [{"name": "x", "as_needed": "yes"}]}, "medications[0].as_needed"),
        ({"medications": [{"name": "x", "compounded": 1}]}, "medications[0].compounded"),
        ({"medications": [{"name": "x", "start_date": "2026-02-30"}]}, "medications[0].start_date"),
        (
            {"medications": [{"name": "x", "start_date": "2026-03-01", "end_date": "2026-02-01"}]},
            "medications[0].end_date",
        ),
        ({"medications": [{"name": "x", "codes": []}]}, "medications[0].codes"),
        ({"medications": [{"name": "x", "codes": [{"system": "s"}]}]}, "medications[0].codes[0].code"),
        ({"medications": [{"id": "a", "name": "x"}, {"id": "a", "name": "y"}]}, "medications[1].id"),
        ({"medications": [], "as_of": "2026-13-01"}, "as_of"),
        ({"medications": [], "patient": None}, "patient"),
        ({"medications": [], "patient": {"opioid_dependence": "true"}}, "patient.opioid_dependence"),
        ({"medications": [], "patient": {"last_opioid_use": "yesterday"}}, "patient.last_opioid_use"),
        ({"medications": [], "patient": {"conditions": [{}]}}, "patient.conditions[0].name"),
        (
            {"medications": [], "patient": {"conditions": [{"name": "OUD", "status": "maybe"}]}},
            "patient.conditions[0].status",
        ),
        (
            {"medications": [], "patient": {"upcoming_procedures": [{"date": "2026-12-01"}]}},
            "patient.upcoming_procedures[0].name",
        ),
        ({"medications": [], "extra": 1}, "extra"),
    ],
)
def test_invalid_fields_are_named_in_a_422(client, contract, body, field):
    response = client.post("/v1/check", json=body)
    body = problem(response, 422)
    contract.validate_response("/v1/check", "post", response)
    assert field in body["errors"], body["errors"]


def test_too_many_medications_is_422(client):
    body = {"medications": [{"name": "aspirin"}] * 501}
    assert "medications" in problem(client.post("/v1/check", json=body), 422)["errors"]


def test_ten_thousand_medications_are_refused(client):
    body = {"medications": [{"id": str(i), "name": "aspirin"} for i in range(10_000)]}
    response = client.post("/v1/check", json=body)
    assert response.status_code in (413, 422)
    problem(response, response.status_code)


def test_the_medication_limit_is_configurable():
    from service import create_app

    client = create_app({"MAX_MEDICATIONS": 2}).test_client()
    problem(client.post("/v1/check", json={"medications": [{"name": "aspirin"}] * 3}), 422)
    assert client.post("/v1/check", json={"medications": [{"name": "aspirin"}] * 2}).status_code == 200


def test_body_over_the_limit_is_413():
    from service import create_app

    client = create_app({"MAX_CONTENT_LENGTH": 2048}).test_client()
    body = json.dumps({"medications": [{"name": "a" * 400} for _ in range(10)]})
    problem(client.post("/v1/check", data=body, content_type="application/json"), 413)


@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/nowhere", 404), ("get", "/v1/check", 405), ("delete", "/v1/rules", 405)]
)
def test_routing_errors_are_problems(client, method, path, status):
    body = problem(getattr(client, method)(path), status)
    assert "Traceback" not in json.dumps(body)


def test_security_headers_and_request_id_on_every_response(client):
    responses = (
        client.get("/healthz"),
        client.post("/v1/check", data=b"{", content_type="application/json"),
        client.post("/v1/check", json={"medications": [{"name": "aspirin"}]}),
        client.get("/"),
        client.get("/nowhere"),
        client.get("/v1/check"),
        client.get("/cds-services"),
    )
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Request-ID"]
        for name in ("X-Content-Type-Options", "Cache-Control", "X-Frame-Options", "Content-Security-Policy"):
            assert len(response.headers.getlist(name)) == 1, (response.request.path, name)
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


def test_api_key_when_configured():
    from service import create_app

    client = create_app({"API_KEY": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"}).test_client()
    problem(client.post("/v1/check", json={"medications": []}), 401)
    problem(client.post("/v1/check", json={"medications": []}, headers={"Authorization": "Bearer wrong"}), 401)
    ok = client.post(
        "/v1/check",
        json={"medications": []},
        headers={"Authorization": "Bearer 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"},
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("medication", "field"),
    [
        ({"name": "oxycodone 5 mg tablet", "days_supply": 30}, "days_supply"),
        ({"name": "oxycodone 5 mg tablet", "dispensed_on": "2026-11-01", "days_supply": 0}, "days_supply"),
        ({"name": "oxycodone 5 mg tablet", "dispensed_on": "2026-11-01", "days_supply": 366}, "days_supply"),
        ({"name": "oxycodone 5 mg tablet", "dispensed_on": "2026-11-01", "days_supply": "30"}, "days_supply"),
        ({"name": "oxycodone 5 mg tablet", "dispensed_on": "yesterday", "days_supply": 30}, "dispensed_on"),
    ],
)
def test_a_dispense_is_validated_naming_the_field(client, medication, field):
    response = client.post("/v1/check", json={"medications": [medication]})
    assert response.status_code == 422
    assert any(field in path for path in response.get_json()["errors"]), response.get_json()
