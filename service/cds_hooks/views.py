"""The CDS Hooks endpoints: discovery, the service call (FHIR in, the pipeline, cards out) and feedback."""

import logging
import time
from collections import Counter

from flask import current_app, g, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from schemas.cds_hooks import FeedbackSchema, HookRequestSchema, OrderContextSchema, PatientViewContextSchema
from schemas.check import flatten_errors
from service import cds_auth
from service.cds_hooks import bp
from service.cds_hooks.cards import card_for, left_out_card
from service.cds_hooks.discovery import SERVICES, discovery_document
from service.cds_hooks.prefetch import gather_prefetch
from service.errors import BadRequest, NotFound, Problem, outcome_response
from service.fhir.translate import translate
from service.pipeline import current_pipeline
from service.requests import read_json

log = logging.getLogger(__name__)
NO_DRAFTS = {"resourceType": "Bundle", "type": "collection", "entry": []}


def _describe(errors, limit=8):
    return "; ".join(f"{path}: {' '.join(messages)}" for path, messages in sorted(errors.items())[:limit])


@bp.errorhandler(Problem)
def _problem(problem):
    if problem.status >= 500:
        log.error("CDS Hooks call failed: %s", problem.detail, extra={"event": "request_failed"})
    status = 400 if problem.status == 422 else problem.status  # CDS Hooks: a malformed call is a 400
    detail = problem.detail
    if problem.errors:
        detail = f"{detail} {_describe(problem.errors)}"
    return outcome_response(status, detail, problem.headers)


@bp.errorhandler(HTTPException)
def _http_error(error):
    detail = error.description
    if error.code == 413:
        detail = f"The request body exceeds {current_app.config['MAX_CONTENT_LENGTH']} bytes."
    return outcome_response(error.code or 500, detail)


@bp.errorhandler(Exception)
def _unexpected(error):
    log.exception("unhandled error in a CDS Hooks call", extra={"event": "unhandled_error"})
    return outcome_response(500)


@bp.record_once
def _setup(state):
    cds_auth.init_app(state.app)


@bp.before_request
def _authenticate():
    g.cds_claims = cds_auth.require_cds_auth()


@bp.get("/cds-services")
def discovery():
    """The CDS Hooks discovery document."""
    return jsonify(discovery_document())


@bp.post("/cds-services/<service_id>")
def call_service(service_id):
    """One order-select, order-sign or patient-view call: the drafts (none for patient-view) and the patient's
    data, checked by the native pipeline."""
    service = _service(service_id)
    started = time.perf_counter()
    envelope = _load(HookRequestSchema(), read_json())
    if envelope["hook"] != service["hook"]:
        raise BadRequest(f"This service answers the {service['hook']} hook, not {envelope['hook']!r}.")
    viewing = service["hook"] == "patient-view"
    context_schema = PatientViewContextSchema() if viewing else OrderContextSchema()
    context = _load(context_schema, envelope["context"], "context.")
    patient_id = context["patientId"].removeprefix("Patient/")
    prefetch = envelope.get("prefetch") or {}
    gathered = gather_prefetch(prefetch, envelope, patient_id)
    # patient-view reviews existing therapy: there are no drafts, so every card is about what the patient takes.
    drafts = NO_DRAFTS if viewing else context["draftOrders"]
    translation = translate(drafts, gathered, prefetch, patient_id)
    pipeline = current_pipeline()
    result = pipeline.check_validated(translation.validated(pipeline.schema)).result
    cards = [card_for(alert, result, translation, context) for alert in result.alerts]
    if translation.other_patient:
        # Not dropped silently: say how many were left out and why; the log names no patient or resource.
        cards.append(left_out_card(translation.other_patient, context))
        log.warning(
            "prefetched resources for another patient left out",
            extra={"event": "cds_other_patient", "count": translation.other_patient},
        )
    log.info(
        "CDS Hooks call",
        extra={
            "event": "cds_call",
            "service": service_id,
            "count": len(cards),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return jsonify({"cards": cards})


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id):
    """Acknowledge feedback on cards; count outcomes and log them without patient data."""
    _service(service_id)
    data = _load(FeedbackSchema(), read_json())
    counter = current_app.extensions.get("ldn_feedback")
    outcomes = Counter(item["outcome"] for item in data["feedback"])
    for item in data["feedback"]:
        if counter is not None:
            try:
                counter(service_id, item["outcome"])
            except Exception:
                log.exception("feedback counter failed", extra={"event": "cds_feedback"})
    for outcome, count in sorted(outcomes.items()):
        # Outcome and count only: card ids, suggestions and the clinician's comment stay out of the log.
        log.info(
            "CDS Hooks feedback",
            extra={"event": "cds_feedback", "service": service_id, "outcome": outcome, "count": count},
        )
    return jsonify({})


def _service(service_id):
    service = SERVICES.get(service_id)
    if service is None:
        raise NotFound("No such CDS service; see GET /cds-services.")
    return service


def _load(schema, data, prefix=""):
    """Validate with a marshmallow schema; a failure is a 400 naming each field."""
    if not isinstance(data, dict):
        raise BadRequest(f"{prefix.rstrip('.') or 'The body'} must be a JSON object.")
    try:
        return schema.load(data)
    except ValidationError as error:
        errors = {prefix + path: messages for path, messages in flatten_errors(error.messages).items()}
        raise BadRequest("The CDS Hooks request is malformed.", errors=errors) from error
