"""The FHIR data a call needs: what the EHR prefetched, or fetched from its FHIR server within a time box."""

import logging
import time
from urllib.parse import quote

from flask import current_app

from service.cds_hooks.discovery import OPTIONAL_PREFETCH, PREFETCH
from service.errors import BadRequest, PreconditionFailed
from service.fhir import client as fhir_client

log = logging.getLogger(__name__)
_MISSING = object()


def resources_of(value):
    """The resources in a prefetch value: a Bundle's entries, or a single resource."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry") or ()
        if not isinstance(entries, list):
            return []
        return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [value] if isinstance(value.get("resourceType"), str) else []


def gather_prefetch(prefetch, envelope, patient_id):
    """{key: resources} for our prefetch keys: as sent, or fetched from fhirServer when absent or failed (else 412)."""
    if not isinstance(prefetch, dict):
        raise BadRequest("prefetch must be a JSON object.")
    for key, value in prefetch.items():  # a malformed call is a 400 before anything is fetched
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("resourceType"), str)):
            raise BadRequest(f"prefetch.{key} must be a FHIR resource (a Bundle) or null.")
    deadline = time.monotonic() + float(current_app.config.get("FHIR_TIMEOUT_SECONDS") or 3.0)
    gathered = {}
    for key, template in PREFETCH.items():
        value = prefetch.get(key, _MISSING)
        if value is None:  # the EHR looked and there is nothing
            gathered[key] = []
            continue
        failed = isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"
        if value is _MISSING or failed:
            value = _fetch(key, template, envelope, patient_id, deadline, failed)
        gathered[key] = resources_of(value)
    for key in OPTIONAL_PREFETCH:
        value = prefetch.get(key)
        failed = isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"
        gathered[key] = [] if failed else resources_of(value)
    return gathered


def _fetch(key, template, envelope, patient_id, deadline, failed):
    why = "the EHR's prefetch failed" if failed else "it was not prefetched"
    server = envelope.get("fhirServer")
    if not server:
        raise PreconditionFailed(f"Prefetch '{key}' is needed: {why} and no fhirServer was given to fetch it.")
    token = (envelope.get("fhirAuthorization") or {}).get("access_token")
    query = template.replace("{{context.patientId}}", quote(patient_id, safe=""))
    try:
        return fhir_client.fetch(server, query, token, timeout=deadline - time.monotonic())
    except fhir_client.FhirFetchError as error:
        log.warning(f"FHIR fetch for prefetch '{key}' failed: {error}", extra={"event": "fhir_fetch"})
        raise PreconditionFailed(f"Prefetch '{key}' is needed: {why} and fetching it failed ({error}).") from error
