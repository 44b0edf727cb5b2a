"""Alerts as FHIR R4 DetectedIssue resources, for pharmacy systems that store them (POST /v1/check/fhir)."""

from rules import actions

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SEVERITY_SYSTEM = "http://hl7.org/fhir/detectedissue-severity"
ALERT_CODE_SYSTEM = "https://ldn-safety.example/fhir/CodeSystem/ldn-alert-code"

_DUPLICATE_THERAPY = ("DUPTHPY", "Duplicate Therapy Alert")
_DRUG_INTERACTION = ("DRG", "Drug Interaction Alert")


def detected_issue(alert, names, as_of):
    """One alert as a DetectedIssue; implicated medications are the caller's ids (as identifiers) and strings."""
    duplicate = alert["code"] in actions.DUPLICATE_THERAPY_CODES
    act_code, act_display = _DUPLICATE_THERAPY if duplicate else _DRUG_INTERACTION
    codings = [{"system": ALERT_CODE_SYSTEM, "code": alert["code"]}]
    if alert["code"] not in actions.NOT_AN_INTERACTION_CODES:
        codings.insert(0, {"system": ACT_CODE, "code": act_code, "display": act_display})
    resource = {
        "resourceType": "DetectedIssue",
        "id": f"{alert['rule'].lower()}",
        "status": "final",
        "code": {"coding": codings, "text": alert["summary"]},
        "severity": actions.DETECTED_ISSUE_SEVERITY[alert["severity"]],
        "identifiedDateTime": as_of,
        "detail": alert["rationale"],
        "mitigation": [{"action": {"text": alert["recommendation"]}}],
        "evidence": [{"detail": [{"display": f"{ref['title']}: {ref['citation']}"}]} for ref in alert["references"]],
    }
    implicated = [
        {"identifier": {"value": med_id}, "display": names[med_id]}
        if names.get(med_id)
        else {"identifier": {"value": med_id}}
        for med_id in alert["medications"]
    ]
    if implicated:
        resource["implicated"] = implicated
    return resource


def detected_issue_bundle(result, names):
    """A collection Bundle of DetectedIssues, one per alert; an empty list is a Bundle without entries."""
    bundle = {"resourceType": "Bundle", "type": "collection"}
    entries = [{"resource": detected_issue(alert, names, result.as_of.isoformat())} for alert in result.alerts]
    if entries:
        bundle["entry"] = entries
    return bundle
