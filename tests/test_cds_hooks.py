"""CDS Hooks 2.0 services through the real app: golden EHR requests, FHIR mapping, prefetch, errors, feedback, speed."""

import copy
import datetime
import json
import logging
import statistics
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import create_app
from service.fhir.translate import dosage_fields
from service.logs import JsonFormatter

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases_cds").glob("*.json"))
CDS_SCHEMA = json.loads((HERE / "cds_schema.json").read_text())
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PID = "1288992"
SERVICE_PATH = "/cds-services/{id}"


# --- Test doubles of external systems: a tiny HTTP server on 127.0.0.1 -----------------------------------------


@contextmanager
def http_server(handle):
    """Serve GET requests on 127.0.0.1 with handle(path, headers) -> (status, json body, delay seconds)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
            status, body, delay = handle(self.path, self.headers)
            if delay:
                time.sleep(delay)
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


# --- Fixtures and helpers ---------------------------------------------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@contextmanager
def service_log(name="service"):
    """Every line the logger logs meanwhile, formatted as in production (create_app resets the "service" logger's
    handlers, so start-up messages are caught on the module's own logger)."""
    handler = _Lines()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def cds_app():
    """The real app in explicit unsigned development mode (JWTs are tested in test_cds_auth)."""
    return create_app({"TESTING": True, "CDS_ALLOW_UNSIGNED": True, "FHIR_TIMEOUT_SECONDS": 1.0})


@pytest.fixture
def cds(cds_app, contract):
    """POST a CDS Hooks call; check the status, the OpenAPI contract, and for 200 the CDS Hooks response schema."""
    client = cds_app.test_client()

    def post(body, service="ldn-order-sign", status=200, **kwargs):
        response = (
            client.post(f"/cds-services/{service}", json=body, **kwargs)
            if "data" not in kwargs
            else client.post(f"/cds-services/{service}", **kwargs)
        )
        assert response.status_code == status, response.get_data(as_text=True)
        contract.validate_response(SERVICE_PATH, "post", response)
        body = response.get_json()
        if status == 200:
            validate_cds(body)
        else:
            assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error"
        return body

    post.client = client
    return post


def validate_cds(body, definition=None):
    """Validate against tests/cds_schema.json (the whole response, or one of its $defs)."""
    schema = CDS_SCHEMA if definition is None else {**CDS_SCHEMA, "$ref": f"#/$defs/{definition}"}
    if definition is not None:
        schema = {
            k: v
            for k, v in schema.items()
            if k not in ("required", "properties", "additionalProperties", "type", "allOf")
        }
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)


def load_case(name):
    return json.loads((HERE / "cases_cds" / f"{name}.json").read_text())


def codes(body):
    return sorted(card["source"]["topic"]["code"] for card in body["cards"])


def med_request(rid, concept, dosage=None, status="draft", **extra):
    resource = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{PID}"},
        **extra,
    }
    if isinstance(concept, str):
        resource["medicationCodeableConcept"] = {"text": concept}
    elif concept is not None:
        resource["medicationCodeableConcept"] = concept
    if dosage is not None:
        resource["dosageInstruction"] = [dosage]
    return resource


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def hook_call(drafts, prefetch=None, hook="order-sign", **extra):
    body = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": PID, "draftOrders": bundle(*drafts)},
        "prefetch": {
            "medicationRequests": None,
            "medicationStatements": None,
            "conditions": None,
            "medicationDispenses": None,
        },
    }
    if prefetch:
        body["prefetch"].update(prefetch)
    body.update(extra)
    return body


LDN_ACTIVE = med_request(
    "ldn-1",
    "naltrexone 4.5 mg capsule (compounded)",
    status="active",
    dosage={
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}},
        "doseAndRate": [{"doseQuantity": {"value": 4.5, "unit": "mg"}}],
    },
)
OXY = {"coding": [{"system": RXNORM, "code": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet"}]}


# --- Discovery --------------------------------------------------------------------------------------------------


def test_discovery_lists_the_services_with_prefetch(cds_app, contract):
    response = cds_app.test_client().get("/cds-services")
    assert response.status_code == 200
    contract.validate_response("/cds-services", "get", response)
    body = response.get_json()
    validate_cds(body, "Discovery")
    services = {s["id"]: s for s in body["services"]}
    assert {k: s["hook"] for k, s in services.items()} == {
        "ldn-order-select": "order-select",
        "ldn-order-sign": "order-sign",
        "ldn-patient-view": "patient-view",
    }
    for service in services.values():
        assert service["title"] and service["description"] and service["usageRequirements"]
        prefetch = service["prefetch"]
        assert prefetch["medicationRequests"] == "MedicationRequest?patient={{context.patientId}}&status=active"
        assert prefetch["medicationStatements"].startswith("MedicationStatement?patient={{context.patientId}}")
        assert prefetch["conditions"] == "Condition?patient={{context.patientId}}"
        assert prefetch["medicationDispenses"] == "MedicationDispense?patient={{context.patientId}}"
        assert prefetch["medicationAdministrations"] == "MedicationAdministration?patient={{context.patientId}}"


# --- Golden EHR requests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_cds_case(cds, path):
    case = json.loads(path.read_text())
    body = cds(case["request"], service=case["service"])
    expected = case["expect"]["cards"]
    if not expected:
        assert body == {"cards": []}
        return
    got = {card["source"]["topic"]["code"]: card for card in body["cards"]}
    assert sorted(got) == sorted(e["code"] for e in expected), json.dumps(body, indent=1)
    for want in expected:
        card = got[want["code"]]
        assert card["indicator"] == want["indicator"]
        assert len(card["summary"]) < 140 and card["detail"] and card["overrideReasons"]
        suggestions = card.get("suggestions", [])
        assert [s["label"] for s in suggestions] == [s["label"] for s in want.get("suggestions", [])]
        for suggestion, expect in zip(suggestions, want.get("suggestions", []), strict=True):
            deletes = [a["resourceId"] for a in suggestion["actions"] if a["type"] == "delete"]
            assert deletes == expect["delete"]
            creates = [a["resource"] for a in suggestion["actions"] if a["type"] == "create"]
            if "create" in expect:
                assert [r["medicationCodeableConcept"]["text"] for r in creates] == [expect["create"]]
                for resource in creates:
                    assert resource["status"] == "draft" and resource["intent"] == "order"
                    assert resource["subject"] == {"reference": f"Patient/{PID}"}
                    assert resource["dosageInstruction"][0]["text"] == "Take 1 capsule by mouth at bedtime"
            else:
                assert not creates
        if suggestions:
            assert card["selectionBehavior"] == "at-most-one"


def test_same_patient_gets_the_same_alerts_as_the_native_api(cds, check):
    case = load_case("ldn-ordered-for-patient-on-buprenorphine")
    cds_body = cds(case["request"])
    native = check(
        {
            "medications": [
                {
                    "id": "ldn",
                    "name": "naltrexone 1.5 mg capsule (compounded)",
                    "form": "Capsule",
                    "dose": {"value": 1.5, "unit": "mg"},
                    "frequency": "daily",
                    "timing": "bedtime",
                    "status": "proposed",
                },
                {
                    "id": "bup",
                    "name": "buprenorphine 8 MG Sublingual Tablet",
                    "codes": [{"system": RXNORM, "code": "351265"}],
                    "instructions": "8 mg under the tongue daily",
                    "frequency": "daily",
                    "start_date": "2025-06-01",
                },
            ],
            "patient": {
                "conditions": [
                    {
                        "name": "Opioid dependence, uncomplicated",
                        "codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F11.20"}],
                        "status": "active",
                    },
                    {
                        "name": "Hypertensive disorder",
                        "codes": [{"system": "http://snomed.info/sct", "code": "38341003"}],
                        "status": "active",
                    },
                ]
            },
        }
    )
    assert codes(cds_body) == sorted(a["code"] for a in native["alerts"]) == ["opioid-dependence", "opioid-use"]
    by_code = {c["source"]["topic"]["code"]: c for c in cds_body["cards"]}
    for alert in native["alerts"]:
        assert by_code[alert["code"]]["summary"] == alert["summary"]

    case = load_case("oxycodone-ordered-for-patient-on-ldn")
    cds_body = cds(case["request"], service="ldn-order-select")
    native = check(
        {
            "medications": [
                {
                    "id": "oxy",
                    "codes": [{"system": RXNORM, "code": "1049621"}],
                    "name": "oxycodone hydrochloride 5 MG Oral Tablet",
                    "frequency": "every 6 hours",
                    "as_needed": True,
                    "status": "proposed",
                },
                {
                    "id": "amox",
                    "name": "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension",
                    "status": "proposed",
                },
                {
                    "id": "ldn",
                    "name": "naltrexone 4.5 mg capsule (compounded low-dose naltrexone)",
                    "timing": "bedtime",
                    "frequency": "once daily",
                    "dose": {"value": 4.5, "unit": "mg"},
                },
            ]
        }
    )
    assert codes(cds_body) == sorted(a["code"] for a in native["alerts"]) == ["opioid-use"]


def _ldn_draft_starting(start):
    return med_request(
        "ldn-new",
        "naltrexone 1.5 mg capsule (compounded)",
        dosage={"text": "1 capsule at bedtime", "timing": {"repeat": {"boundsPeriod": {"start": start.isoformat()}}}},
    )


@pytest.mark.parametrize(("start_in_days", "cards"), [(2, ["opioid-free-interval"]), (12, [])])
def test_the_opioid_free_interval_counts_to_the_drafts_planned_start(cds, start_in_days, cards):
    today = datetime.datetime.now(datetime.UTC).date()
    stopped = {
        "resourceType": "MedicationStatement",
        "id": "oxy-done",
        "status": "completed",
        "medicationCodeableConcept": OXY,
        "subject": {"reference": f"Patient/{PID}"},
        "effectivePeriod": {
            "start": (today - datetime.timedelta(days=20)).isoformat(),
            "end": (today - datetime.timedelta(days=3)).isoformat(),
        },
    }
    body = cds(
        hook_call(
            [_ldn_draft_starting(today + datetime.timedelta(days=start_in_days))],
            prefetch={"medicationStatements": bundle(stopped)},
        )
    )
    assert codes(body) == cards


def test_a_recent_extended_release_injection_still_blocks_the_drafted_opioid(cds):
    today = datetime.datetime.now(datetime.UTC).date()
    injection = med_request(
        "viv",
        "Vivitrol 380 mg IM injection",
        status="completed",
        authoredOn=(today - datetime.timedelta(days=10)).isoformat(),
    )
    body = cds(hook_call([med_request("oxy-draft", OXY)], prefetch={"medicationRequests": bundle(injection)}))
    assert codes(body) == ["opioid-use"]


def test_order_select_and_order_sign_give_identical_cards(cds):
    case = load_case("oxycodone-ordered-for-patient-on-ldn")
    selected = cds(case["request"], service="ldn-order-select")
    sign_request = copy.deepcopy(case["request"])
    sign_request["hook"] = "order-sign"
    del sign_request["context"]["selections"]
    sign_request["hookInstance"] = "another-instance"
    signed = cds(sign_request, service="ldn-order-sign")
    assert selected == signed and selected["cards"]


def test_card_uuids_differ_between_patients(cds):
    case = load_case("oxycodone-ordered-for-patient-on-ldn")
    first = cds(case["request"], service="ldn-order-select")["cards"][0]["uuid"]
    other = copy.deepcopy(case["request"])
    other["context"]["patientId"] = "other-patient"
    for value in other["prefetch"].values():
        for entry in (value or {}).get("entry", []):
            entry["resource"]["subject"] = {"reference": "Patient/other-patient"}
    for entry in other["context"]["draftOrders"]["entry"]:
        entry["resource"]["subject"] = {"reference": "Patient/other-patient"}
    assert cds(other, service="ldn-order-select")["cards"][0]["uuid"] != first


def test_the_suggested_compounded_order_is_itself_clean(cds):
    case = load_case("50-mg-tablet-for-a-4-5-mg-dose")
    body = cds(case["request"])
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "tablet-splitting")
    created = next(a["resource"] for a in card["suggestions"][0]["actions"] if a["type"] == "create")
    assert created["encounter"] == {"reference": "Encounter/89284"}
    created = {**created, "id": "replacement-1"}
    again = cds(hook_call([created]))
    assert "tablet-splitting" not in codes(again) and "dose-timing" not in codes(again)


def test_tablet_split_dose_is_carried_into_the_replacement(cds):
    tablet = med_request(
        "ntx",
        {"coding": [{"system": RXNORM, "code": "1483744"}]},
        {"text": "1.5 mg at bedtime", "doseAndRate": {"doseQuantity": {"value": 1.5, "unit": "mg"}}},
    )
    card = next(c for c in cds(hook_call([tablet]))["cards"] if c["source"]["topic"]["code"] == "tablet-splitting")
    assert card["suggestions"][0]["label"] == "Replace with compounded low-dose naltrexone 1.5 mg capsules"


# --- FHIR mapping -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "alerts"),
    [
        ("active", True),
        ("on-hold", True),
        ("unknown", True),
        ("intended", True),
        ("draft", True),
        ("stopped", False),
        ("completed", False),
        ("entered-in-error", False),
        ("not-taken", False),
        ("cancelled", False),
    ],
)
def test_prefetched_statuses_map_to_native_statuses(cds, status, alerts):
    statement = {
        "resourceType": "MedicationStatement",
        "id": "oxy-st",
        "status": status,
        "medicationCodeableConcept": OXY,
        "subject": {"reference": f"Patient/{PID}"},
    }
    body = cds(hook_call([], {"medicationRequests": bundle(LDN_ACTIVE), "medicationStatements": bundle(statement)}))
    assert ("opioid-use" in codes(body)) is alerts


def test_every_draft_is_proposed_whatever_its_status(cds):
    # A new LDN start above 1.5 mg is a titration card only for a proposed order; an active one is established.
    ldn = med_request(
        "ldn-new", "naltrexone 4.5 mg capsule (compounded)", {"text": "1 capsule at bedtime"}, status="active"
    )
    assert "titration" in codes(cds(hook_call([ldn])))
    assert "titration" not in codes(cds(hook_call([], {"medicationRequests": bundle(ldn)})))


@pytest.mark.parametrize(
    ("dosage", "expected"),
    [
        ({"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}, {"frequency": "twice daily"}),
        ({"timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}}, {"frequency": "twice daily"}),
        ({"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}}, {"frequency": "three times daily"}),
        ({"timing": {"repeat": {"frequency": 1, "period": 5, "periodUnit": "h"}}}, {"frequency": "every 5 hours"}),
        ({"timing": {"repeat": {"frequency": 1, "period": 2, "periodUnit": "d"}}}, {"frequency": "every other day"}),
        ({"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}}, {"frequency": "weekly"}),
        (
            {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}}},
            {"frequency": "once daily", "timing": "bedtime"},
        ),
        ({"timing": {"repeat": {"when": ["MORN"]}}}, {"timing": "morning"}),
        ({"timing": {"code": {"coding": [{"code": "BID"}]}}}, {"frequency": "twice daily"}),
        ({"timing": {"code": {"coding": [{"code": "Q4H"}]}}}, {"frequency": "every 4 hours"}),
        ({"timing": {"code": {"text": "nightly"}}}, {"frequency": "nightly"}),
        (
            {"doseAndRate": {"doseQuantity": {"value": 5, "unit": "mL", "code": "mL"}}},
            {"dose": {"value": 5.0, "unit": "mL"}},
        ),
        (
            {"doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tabs", "code": "{tbl}"}}]},
            {"dose": {"value": 2.0, "unit": "tablet"}},
        ),
        ({"doseAndRate": [{"doseQuantity": {"value": 250, "code": "ug"}}]}, {"dose": {"value": 250.0, "unit": "mcg"}}),
        (
            {"text": "1 spoonful", "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "spoonful"}}]},
            {"instructions": "1 spoonful"},
        ),
        ({"doseAndRate": [{"doseQuantity": {"value": -1, "unit": "mg"}}]}, {}),
        ({"asNeededBoolean": True}, {"as_needed": True}),
        ({"asNeededCodeableConcept": {"text": "pain"}}, {"as_needed": True}),
        ({"asNeededBoolean": False}, {}),
    ],
)
def test_dosage_mapping(dosage, expected):
    got = {k: v for k, v in dosage_fields(dosage).items() if v is not None}
    assert got == expected


def test_structured_frequency_reaches_the_rules(cds):
    twice = med_request(
        "ldn-bid",
        "naltrexone 4.5 mg capsule (compounded)",
        status="active",
        dosage={
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 4.5, "unit": "mg"}}],
        },
    )
    assert "dose-range" in codes(cds(hook_call([], {"medicationRequests": bundle(twice)})))  # 9 mg a day
    morning = copy.deepcopy(LDN_ACTIVE)
    morning["dosageInstruction"][0]["timing"]["repeat"]["when"] = ["MORN"]
    assert "dose-timing" in codes(cds(hook_call([], {"medicationRequests": bundle(morning)})))
    assert "dose-timing" not in codes(cds(hook_call([], {"medicationRequests": bundle(LDN_ACTIVE)})))


def test_medication_reference_is_resolved_in_draft_orders_prefetch_and_contained(cds):
    oxy_med = {"resourceType": "Medication", "id": "med-oxy", "code": OXY}
    draft = med_request("oxy-draft", None, medicationReference={"reference": "Medication/med-oxy"})
    in_drafts = hook_call([draft], {"medicationRequests": bundle(LDN_ACTIVE)})
    in_drafts["context"]["draftOrders"]["entry"].append({"resource": oxy_med})
    assert codes(cds(in_drafts)) == ["opioid-use"]

    included = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": LDN_ACTIVE},
            {
                "fullUrl": "https://ehr.example/fhir/Medication/med-oxy",
                "resource": oxy_med,
                "search": {"mode": "include"},
            },
        ],
    }
    absolute = med_request(
        "oxy-draft", None, medicationReference={"reference": "https://ehr.example/fhir/Medication/med-oxy"}
    )
    assert codes(cds(hook_call([absolute], {"medicationRequests": included}))) == ["opioid-use"]

    contained = med_request(
        "oxy-draft", None, medicationReference={"reference": "#m1"}, contained=[{**oxy_med, "id": "m1"}]
    )
    assert codes(cds(hook_call([contained], {"medicationRequests": bundle(LDN_ACTIVE)}))) == ["opioid-use"]

    by_display = med_request(
        "oxy-draft", None, medicationReference={"reference": "Medication/absent", "display": "oxycodone 5 mg tablet"}
    )
    assert codes(cds(hook_call([by_display], {"medicationRequests": bundle(LDN_ACTIVE)}))) == ["opioid-use"]


def test_conditions_map_codes_status_and_skip_refuted(cds):
    def condition(code, clinical=None, verification=None, system="http://hl7.org/fhir/sid/icd-10-cm"):
        resource = {"resourceType": "Condition", "code": {"coding": [{"system": system, "code": code}]}}
        if clinical:
            resource["clinicalStatus"] = {"coding": [{"code": clinical}]}
        if verification:
            resource["verificationStatus"] = {"coding": [{"code": verification}]}
        return resource

    base = {"medicationRequests": bundle(LDN_ACTIVE)}
    assert "opioid-dependence" in codes(
        cds(hook_call([], {**base, "conditions": bundle(condition("F11.20", "active"))}))
    )
    assert "opioid-dependence" in codes(
        cds(hook_call([], {**base, "conditions": bundle(condition("191819002", system="http://snomed.info/sct"))}))
    )
    assert "opioid-dependence" not in codes(
        cds(hook_call([], {**base, "conditions": bundle(condition("F11.20", "active", "refuted"))}))
    )
    assert "opioid-dependence" not in codes(
        cds(hook_call([], {**base, "conditions": bundle(condition("F11.20", "active", "entered-in-error"))}))
    )
    resolved = cds(hook_call([], {**base, "conditions": bundle(condition("F11.20", "resolved"))}))
    assert "opioid-dependence" not in codes(resolved)


def test_real_ehr_noise_is_tolerated(cds):
    case = load_case("oxycodone-ordered-for-patient-on-ldn")
    request = copy.deepcopy(case["request"])
    request["extension"] = [{"url": "http://ehr.example/x", "valueBoolean": True}]
    request["fhirServer"] = "https://ehr.example.org/fhir"  # present but every key is prefetched: never called
    request["context"]["patientId"] = f"Patient/{PID}"
    request["context"]["someVendorField"] = {"a": 1}
    request["prefetch"]["somethingElse"] = {"resourceType": "Patient", "id": PID}
    request["prefetch"]["medicationRequests"]["link"].append(
        {"relation": "next", "url": "https://ehr.example.org/page2"}
    )
    assert codes(cds(request, service="ldn-order-select")) == ["opioid-use"]


def test_duplicated_conditions_count_once_and_other_patients_are_ignored(cds):
    oud = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F11.20"}]},
        "subject": {"reference": "Patient/someone-else"},
    }
    same = {
        "resourceType": "Condition",
        "code": {"text": "Essential hypertension"},
        "subject": {"reference": f"Patient/{PID}"},
    }
    with service_log("service.cds_hooks") as lines:
        body = cds(
            hook_call([], {"medicationRequests": bundle(LDN_ACTIVE), "conditions": bundle(oud, *([same] * 300))})
        )
    # Another patient's resource decides nothing, and is not dropped silently: one info card says so.
    (card,) = body["cards"]
    assert card["indicator"] == "info" and card["summary"].startswith("1 prefetched resource named another patient")
    assert card["source"]["topic"]["code"] == "prefetch-other-patient"
    logged = [json.loads(line) for line in lines if "cds_other_patient" in line]
    assert logged and logged[0]["count"] == 1 and "someone-else" not in lines[0]
    foreign = med_request("x", OXY, subject={"reference": "Patient/someone-else"})
    cds(hook_call([foreign]), status=400)


def test_draft_orders_sent_as_a_single_resource_are_read_as_a_one_entry_bundle(cds):
    call = hook_call([])
    call["context"]["draftOrders"] = med_request("oxy-draft", OXY)
    call["prefetch"]["medicationRequests"] = bundle(LDN_ACTIVE)
    body = cds(call)
    assert codes(body) == ["opioid-use"]
    (suggestion,) = body["cards"][0]["suggestions"]
    assert [a["resourceId"] for a in suggestion["actions"]] == ["MedicationRequest/oxy-draft"]


def test_a_draft_that_names_nothing_is_skipped_not_refused(cds):
    assert cds(hook_call([med_request("empty", None)])) == {"cards": []}


# --- Prefetch states and fetching from the FHIR server ---------------------------------------------------------


def test_missing_prefetch_without_fhir_server_is_412(cds):
    body = hook_call([med_request("oxy", OXY)])
    del body["prefetch"]["conditions"]
    outcome = cds(body, status=412)
    assert outcome["issue"][0]["code"] == "incomplete" and "conditions" in outcome["issue"][0]["diagnostics"]
    del body["prefetch"]
    cds(body, status=412)


def test_failed_prefetch_without_fhir_server_is_412(cds):
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    cds(hook_call([med_request("oxy", OXY)], {"conditions": failed}), status=412)


def test_null_prefetch_means_no_data(cds):
    assert cds(hook_call([med_request("oxy", OXY)])) == {"cards": []}


def _fhir_routes(pages):
    def handle(path, headers):
        return pages.get(
            path, (404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}, 0)
        )

    return handle


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_paging(cds):
    page2 = {"resourceType": "Bundle", "entry": [{"resource": LDN_ACTIVE}]}
    routes = {}
    with http_server(_fhir_routes(routes)) as (base, seen):
        page1 = {
            "resourceType": "Bundle",
            "link": [{"relation": "next", "url": f"{base}/fhir/page-2"}],
            "entry": [{"resource": med_request("other", "lisinopril 10 mg tablet", status="active")}],
        }
        routes["/fhir/MedicationRequest?patient=1288992&status=active"] = (200, page1, 0)
        routes["/fhir/page-2"] = (200, page2, 0)
        routes["/fhir/Condition?patient=1288992"] = (200, {"resourceType": "Bundle", "total": 0}, 0)
        body = hook_call([med_request("oxy", OXY)])
        del body["prefetch"]["medicationRequests"]
        body["prefetch"]["conditions"] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout"}],
        }
        body["fhirServer"] = f"{base}/fhir"
        body["fhirAuthorization"] = {
            "access_token": "secret-token-123",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
        body["context"]["patientId"] = f"Patient/{PID}"
        with service_log() as lines:
            assert codes(cds(body)) == ["opioid-use"]
    assert [s["path"] for s in seen] == [
        "/fhir/MedicationRequest?patient=1288992&status=active",
        "/fhir/page-2",
        "/fhir/Condition?patient=1288992",
    ]
    assert all(s["authorization"] == "Bearer secret-token-123" for s in seen)
    assert any('"event": "fhir_fetch"' in line for line in lines)
    assert not any("secret-token-123" in line for line in lines)


@pytest.mark.parametrize(
    "failure",
    ["server-error", "slow", "other-origin", "operation-outcome", "not-json-object", "endless-paging"],
)
def test_fhir_server_failures_are_412_within_the_time_box(cds, failure):
    path = "/fhir/MedicationRequest?patient=1288992&status=active"
    loop = {"resourceType": "Bundle", "link": [{"relation": "next", "url": path}], "entry": []}
    responses = {
        "server-error": (
            500,
            {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]},
            0,
        ),
        "slow": (200, {"resourceType": "Bundle"}, 3),
        "other-origin": (
            200,
            {"resourceType": "Bundle", "link": [{"relation": "next", "url": "http://127.0.0.2:9/x"}]},
            0,
        ),
        "operation-outcome": (
            200,
            {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]},
            0,
        ),
        "not-json-object": (200, ["not", "a", "resource"], 0),
        "endless-paging": (200, loop, 0),
    }
    with http_server(lambda p, h: responses[failure]) as (base, seen):
        body = hook_call(
            [med_request("oxy", OXY)],
            fhirServer=f"{base}/fhir",
            fhirAuthorization={"access_token": "t", "token_type": "Bearer"},
        )
        del body["prefetch"]["medicationRequests"]
        started = time.monotonic()
        cds(body, status=412)
        assert time.monotonic() - started < 2.0  # FHIR_TIMEOUT_SECONDS is 1 s in these tests
    assert len(seen) <= 5


def test_plain_http_fhir_server_off_loopback_is_refused(cds):
    body = hook_call(
        [med_request("oxy", OXY)],
        fhirServer="http://ehr.example.org/fhir",
        fhirAuthorization={"access_token": "t", "token_type": "Bearer"},
    )
    del body["prefetch"]["conditions"]
    cds(body, status=412)


# --- Malformed calls --------------------------------------------------------------------------------------------


def _without(path):
    body = hook_call([med_request("oxy", OXY)])
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    "body",
    [
        _without(["hook"]),
        _without(["hookInstance"]),
        _without(["context"]),
        _without(["context", "patientId"]),
        _without(["context", "draftOrders"]),
        {**hook_call([]), "hook": "order-select"},
        {**hook_call([]), "hook": "patient-view"},
        {**hook_call([]), "context": "not an object"},
        {**hook_call([]), "context": {"patientId": PID, "draftOrders": {"resourceType": "Patient"}}},
        {**hook_call([]), "context": {"patientId": "1288992 OR 1=1", "draftOrders": bundle()}},
        {**hook_call([]), "prefetch": ["not", "an", "object"]},
        {**hook_call([]), "prefetch": {"conditions": "a string"}},
        {**hook_call([]), "fhirAuthorization": {"access_token": "t", "token_type": "Bearer"}},
        {**hook_call([]), "fhirServer": "ftp://ehr.example/fhir"},
        hook_call([med_request("oxy", "oxy\u0000codone")]),
        hook_call([med_request("oxy", "oxy\u202ecodone")]),
        hook_call([med_request("oxy", "x" * 501)]),
        hook_call([med_request("oxy", OXY, {"text": "take \u0007 one"})]),
        [],
    ],
)
def test_malformed_calls_are_400_operation_outcomes(cds, body):
    outcome = cds(body, status=400)
    assert outcome["issue"][0]["code"] == "invalid" and outcome["issue"][0]["diagnostics"]


def test_the_refused_fhir_value_is_named_by_its_resource(cds):
    outcome = cds(hook_call([med_request("bad-1", "oxy\u0000codone")]), status=400)
    assert "MedicationRequest/bad-1 name" in outcome["issue"][0]["diagnostics"]


def test_transport_errors_are_operation_outcomes(cds, cds_app, contract):
    cds(None, status=400, data=b"{", content_type="application/json")
    cds(None, status=415, data=b"{}", content_type="text/plain")
    outcome = cds(hook_call([]), service="no-such-service", status=404)
    assert outcome["issue"][0]["code"] == "not-found"
    small = create_app({"TESTING": True, "CDS_ALLOW_UNSIGNED": True, "MAX_CONTENT_LENGTH": 512}).test_client()
    response = small.post("/cds-services/ldn-order-sign", json=hook_call([med_request("x", "y" * 600)]))
    assert response.status_code == 413 and response.get_json()["resourceType"] == "OperationOutcome"
    contract.validate_response(SERVICE_PATH, "post", response)


# Random JSON where EHRs put FHIR values: the answer is a card list or a 400, never a 500.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
_fields = st.sampled_from(
    [
        "medicationCodeableConcept",
        "medicationReference",
        "dosageInstruction",
        "status",
        "id",
        "subject",
        "contained",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=_fields, value=_json, where=st.sampled_from(["draft", "prefetch", "dosage"]))
def test_junk_fhir_values_never_cause_a_500(cds_app, field, value, where):
    client = cds_app.test_client()
    resource = med_request("r1", OXY, {"text": "1 tablet"}, status="active")
    if where == "dosage":
        resource["dosageInstruction"][0][field] = value
    else:
        resource[field] = value
    body = hook_call([resource]) if where != "prefetch" else hook_call([], {"medicationRequests": bundle(resource)})
    response = client.post("/cds-services/ldn-order-sign", json=body)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 200:
        validate_cds(response.get_json())


# --- Feedback ---------------------------------------------------------------------------------------------------


def _feedback_count(client, outcome, service="ldn-order-sign"):
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if (
            line.startswith("ldn_cds_feedback_total{")
            and f'outcome="{outcome}"' in line
            and f'service="{service}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_feedback_is_acknowledged_counted_and_logged_without_patient_data(cds_app, contract):
    client = cds_app.test_client()
    before = (_feedback_count(client, "accepted"), _feedback_count(client, "overridden"))
    body = {
        "feedback": [
            {
                "card": "c7addb46-c1a3-5792-b6a5-6763eef1e463",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "29133a0f-0da2-51f1-8660-360eb781e71b"}],
                "outcomeTimestamp": "2026-11-25T10:00:00Z",
            },
            {
                "card": "c7addb46-c1a3-5792-b6a5-6763eef1e463",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-25T10:01:00Z",
                "overrideReason": {
                    "reason": {
                        "system": "https://ldn-safety.example/x",
                        "code": "will-monitor",
                        "display": "Will monitor",
                    },
                    "userComment": "Mrs Jones says she stopped her LDN",
                },
                "extension": [{"url": "x"}],
            },
        ]
    }
    with service_log() as lines:
        response = client.post("/cds-services/ldn-order-sign/feedback", json=body)
    assert response.status_code == 200 and response.get_json() == {}
    contract.validate_response("/cds-services/{id}/feedback", "post", response)
    after = (_feedback_count(client, "accepted"), _feedback_count(client, "overridden"))
    assert after == (before[0] + 1, before[1] + 1)
    logged = "\n".join(lines)
    assert logged.count('"event": "cds_feedback"') == 2
    assert "Mrs Jones" not in logged and "c7addb46" not in logged


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": []},
        {"feedback": [{"card": "x", "outcome": "maybe", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]},
        {"feedback": [{"outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]},
        {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "yesterday"}]},
        {
            "feedback": [
                {
                    "card": "x",
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-25T10:00:00Z",
                    "acceptedSuggestions": [{"id": "s"}],
                }
            ]
        },
        {"feedback": "accepted"},
    ],
)
def test_invalid_feedback_is_400(cds_app, contract, body):
    response = cds_app.test_client().post("/cds-services/ldn-order-sign/feedback", json=body)
    assert response.status_code == 400
    contract.validate_response("/cds-services/{id}/feedback", "post", response)


def test_feedback_for_an_unknown_service_is_404(cds_app):
    body = {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}
    assert cds_app.test_client().post("/cds-services/nope/feedback", json=body).status_code == 404


# --- Speed ------------------------------------------------------------------------------------------------------


def test_a_cds_call_answers_well_under_500_ms(cds_app):
    client = cds_app.test_client()
    request = load_case("ldn-ordered-for-patient-on-buprenorphine")["request"]
    timings = []
    for _ in range(60):
        started = time.perf_counter()
        assert client.post("/cds-services/ldn-order-sign", json=request).status_code == 200
        timings.append(time.perf_counter() - started)
    timings.sort()
    # Median and 95th percentile, not the maximum: one garbage collection on a busy CI runner is not the service.
    assert statistics.median(timings) < 0.1 and timings[int(len(timings) * 0.95)] < 0.5


def _dispense(rid, concept, handed_over, days, status="completed"):
    return {
        "resourceType": "MedicationDispense",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{PID}"},
        "whenHandedOver": handed_over,
        "daysSupply": {"value": days, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
    }


@pytest.mark.parametrize(
    ("status", "cards"),
    [
        ("completed", ["opioid-use"]),
        ("in-progress", ["opioid-use"]),
        ("entered-in-error", []),
        ("cancelled", []),
        ("declined", []),
    ],
)
def test_a_dispensed_opioid_still_covering_today_counts_unless_the_dispense_does_not(cds, status, cards):
    today = datetime.datetime.now(datetime.UTC).date()
    fill = _dispense("d1", OXY, (today - datetime.timedelta(days=5)).isoformat(), 30, status)
    body = cds(
        hook_call(
            [med_request("ldn-new", "naltrexone 1.5 mg capsule (compounded)")],
            prefetch={"medicationDispenses": bundle(fill)},
        )
    )
    assert codes(body) == cards


def test_a_dispense_that_ran_out_sets_the_last_opioid_use(cds):
    today = datetime.datetime.now(datetime.UTC).date()
    fill = _dispense("d1", OXY, (today - datetime.timedelta(days=12)).isoformat(), 10)  # last dose due 3 days ago
    body = cds(
        hook_call(
            [med_request("ldn-new", "naltrexone 1.5 mg capsule (compounded)")],
            prefetch={"medicationDispenses": bundle(fill)},
        )
    )
    assert codes(body) == ["opioid-free-interval"]
    assert body["cards"][0]["indicator"] == "critical"


def test_dispenses_are_fetched_from_the_fhir_server_when_not_prefetched(cds):
    today = datetime.datetime.now(datetime.UTC).date()
    fill = _dispense("d1", OXY, today.isoformat(), 30)

    def handle(path, headers):
        resources = [fill] if path.startswith("/MedicationDispense") else []
        return 200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}, 0

    with http_server(handle) as (base, seen):
        call = hook_call([med_request("ldn-new", "naltrexone 1.5 mg capsule (compounded)")], fhirServer=base)
        del call["prefetch"]["medicationDispenses"]
        body = cds(call)
    assert codes(body) == ["opioid-use"]
    assert any(hit["path"].startswith(f"/MedicationDispense?patient={PID}") for hit in seen)


def test_an_inpatient_opioid_administration_is_read_when_prefetched(cds):
    now = datetime.datetime.now(datetime.UTC)
    dose = {
        "resourceType": "MedicationAdministration",
        "id": "a1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "morphine 2 mg IV"},
        "subject": {"reference": f"Patient/{PID}"},
        "effectiveDateTime": (now - datetime.timedelta(days=2)).isoformat(),
    }
    body = cds(
        hook_call(
            [med_request("ldn-new", "naltrexone 1.5 mg capsule (compounded)")],
            prefetch={"medicationAdministrations": bundle(dose)},
        )
    )
    assert codes(body) == ["opioid-free-interval"]  # given 2 days ago: the last opioid use


def test_patient_view_reviews_existing_therapy_without_draft_actions(cds):
    context = {"userId": "Practitioner/1", "patientId": PID}
    oxy = med_request("oxy-1", OXY, status="active")
    body = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": context,
        "prefetch": {
            "medicationRequests": bundle(LDN_ACTIVE, oxy),
            "medicationStatements": None,
            "conditions": None,
            "medicationDispenses": None,
        },
    }
    answer = cds(body, service="ldn-patient-view")
    assert codes(answer) == ["opioid-use"]
    assert all("suggestions" not in card for card in answer["cards"])  # nothing drafted, nothing to remove


def test_patient_view_refuses_an_order_hook(cds):
    call = hook_call([med_request("x", OXY)])
    cds(call, service="ldn-patient-view", status=400)


METHADONE = {"coding": [{"system": RXNORM, "code": "6813", "display": "methadone"}]}


@pytest.mark.parametrize(
    ("concept", "ended", "severity"),
    [
        (OXY, 6, "critical"),
        (OXY, 7, "warning"),
        (OXY, 10, None),
        (OXY, 11, None),
        (METHADONE, 13, "critical"),
        (METHADONE, 14, None),
        (METHADONE, 15, None),
    ],
)
def test_dispense_history_alone_drives_the_interval_through_cds_hooks(cds, concept, ended, severity):
    today = datetime.datetime.now(datetime.UTC).date()
    days = 14
    handed_over = today - datetime.timedelta(days=ended + days - 1)  # the supply's last day is `ended` days ago
    fill = _dispense("d1", concept, handed_over.isoformat(), days)
    body = cds(
        hook_call(
            [med_request("ldn-new", "naltrexone 1.5 mg capsule (compounded)")],
            prefetch={"medicationDispenses": bundle(fill)},
        )
    )
    assert [card["indicator"] for card in body["cards"]] == ([severity] if severity else [])
