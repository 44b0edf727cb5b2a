"""POST /v1/check/fhir: the same alerts as FHIR R4 DetectedIssue resources."""

CASE = {
    "as_of": "2026-11-25",
    "medications": [
        {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"},
        {"id": "oxy", "name": "Percocet 5/325"},
        {"id": "con", "name": "Contrave 8-90 mg ER tablet"},
    ],
    "patient": {"opioid_dependence": True},
}


def test_each_alert_is_one_detected_issue(client, contract):
    native = client.post("/v1/check", json=CASE).get_json()["alerts"]
    response = client.post("/v1/check/fhir", json=CASE)
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    contract.validate_response("/v1/check/fhir", "post", response)
    issues = [entry["resource"] for entry in response.get_json()["entry"]]
    assert [i["code"]["coding"][-1]["code"] for i in issues] == [a["code"] for a in native]
    by_code = {i["code"]["coding"][-1]["code"]: i for i in issues}
    assert by_code["opioid-dependence"]["severity"] == "high"  # FHIR has no "critical"
    assert by_code["duplicate-naltrexone"]["code"]["coding"][0]["code"] == "DUPTHPY"
    assert by_code["opioid-use"]["code"]["coding"][0]["code"] == "DRG"
    implicated = {ref["identifier"]["value"]: ref["display"] for ref in by_code["opioid-use"]["implicated"]}
    assert implicated == {
        "ldn": "naltrexone 4.5 mg capsule",
        "con": "Contrave 8-90 mg ER tablet",
        "oxy": "Percocet 5/325",
    }


def test_no_alerts_is_a_bundle_without_entries(client, contract):
    response = client.post("/v1/check/fhir", json={"medications": [{"name": "lisinopril 10 mg"}]})
    contract.validate_response("/v1/check/fhir", "post", response)
    assert response.get_json() == {"resourceType": "Bundle", "type": "collection"}


def test_errors_are_the_same_problem_documents(client):
    response = client.post("/v1/check/fhir", json={"medications": [{"dosage": 1}]})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
