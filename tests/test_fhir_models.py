"""Every FHIR resource the service produces validates against a maintained FHIR model library (fhir.resources).

fhir.resources ships R4B, the technical correction of R4 (4.3.0): DetectedIssue, Bundle and MedicationRequest are
the same resources in both.
"""

import json

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationrequest import MedicationRequest

from tests.test_cds_hooks import HERE, cds_app  # noqa: F401  (cds_app is a fixture)

BODY = {
    "as_of": "2026-11-25",
    "medications": [
        {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"},
        {"id": "oxy", "name": "oxycodone 5 mg tablet every 6 hours as needed"},
        {"id": "x", "name": "zorblatine 5 mg"},
        {"id": "ntx", "name": "naltrexone 50 mg tablet, 1/8 tablet at night"},
    ],
}


def test_the_detected_issue_bundle_is_valid_fhir(client):
    response = client.post("/v1/check/fhir", json=BODY)
    assert response.status_code == 200
    bundle = Bundle.model_validate(response.get_json())
    issues = [entry.resource for entry in bundle.entry]
    assert len(issues) >= 3 and all(issue.get_resource_type() == "DetectedIssue" for issue in issues)


def test_a_clean_check_is_a_valid_empty_bundle(client):
    response = client.post("/v1/check/fhir", json={"medications": [{"name": "lisinopril 10 mg tablet"}]})
    Bundle.model_validate(response.get_json())


def test_the_suggested_replacement_order_is_a_valid_medication_request(cds_app):  # noqa: F811
    case = json.loads((HERE / "cases_cds" / "50-mg-tablet-for-a-4-5-mg-dose.json").read_text())
    body = cds_app.test_client().post(f"/cds-services/{case['service']}", json=case["request"]).get_json()
    created = [
        action["resource"]
        for card in body["cards"]
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
        if action["type"] == "create"
    ]
    assert created
    for resource in created:
        order = MedicationRequest.model_validate(resource)
        assert order.status == "draft" and order.intent == "order"
