"""The CDS Hooks discovery document: our services, their hooks and the prefetch they ask for."""

PREFETCH = {
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&status=active",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
}
# Read when the EHR prefetches them, never fetched: inpatient opioid doses given (MedicationAdministration).
OPTIONAL_PREFETCH = {"medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}"}
_DESCRIPTION = (
    "Checks the draft medication orders against the patient's active medications and conditions for low-dose "
    "naltrexone (LDN) safety issues: opioids with naltrexone, opioid dependence, the opioid-free interval, "
    "divided 50 mg tablets, dose, titration and timing."
)
SERVICES = {
    "ldn-order-select": {"hook": "order-select", "title": "LDN safety check (order select)"},
    "ldn-order-sign": {"hook": "order-sign", "title": "LDN safety check (order sign)"},
    "ldn-patient-view": {"hook": "patient-view", "title": "LDN safety review of current therapy (patient view)"},
}
_PATIENT_VIEW_DESCRIPTION = (
    "Reviews the patient's current medications, dispenses and conditions, when the chart is opened, for low-dose "
    "naltrexone (LDN) safety issues in existing therapy: opioids with naltrexone, opioid dependence, divided "
    "50 mg tablets, dose and timing."
)
USAGE = (
    "Send a JWT signed by a trusted issuer (CDS Hooks 2.0 security). Prefetch the keys, or give fhirServer and "
    "fhirAuthorization with read access to the patient's MedicationRequest, MedicationStatement, MedicationDispense "
    "and Condition resources (MedicationAdministration is read when prefetched). The order services give the same "
    "cards for the same orders."
)


def discovery_document():
    """GET /cds-services."""
    services = [
        {
            "id": service_id,
            "hook": spec["hook"],
            "title": spec["title"],
            "description": _PATIENT_VIEW_DESCRIPTION if spec["hook"] == "patient-view" else _DESCRIPTION,
            "prefetch": {**PREFETCH, **OPTIONAL_PREFETCH},
            "usageRequirements": USAGE,
        }
        for service_id, spec in SERVICES.items()
    ]
    return {"services": services}
