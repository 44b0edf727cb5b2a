"""The native API: POST /v1/check (and /v1/check/fhir), GET /v1/rules, GET /healthz, GET /readyz, GET /openapi.yaml."""

from pathlib import Path

from flask import Blueprint, Response, jsonify
from marshmallow import ValidationError

from rules.catalogue import RULESET_NAME, RULESET_VERSION, catalogue, definition_catalogue
from service import auth
from service.errors import ValidationFailed
from service.fhir.detected_issues import detected_issue_bundle
from service.pipeline import current_pipeline
from service.requests import read_json, validation_problem

bp = Blueprint("api", __name__)
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


def check_response(result, ruleset):
    """The 200 body of a check."""
    body = {
        "as_of": result.as_of.isoformat(),
        "alerts": result.alerts,
        "medications": result.medications,
        "ruleset": ruleset,
    }
    if result.conditions:
        body["conditions"] = result.conditions
    return body


def _run_check():
    """Authenticate, then the pipeline on the JSON body; (validated request, result, ruleset)."""
    auth.require_native_auth()
    body = read_json()
    pipeline = current_pipeline()
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", errors={"$": ["Must be an object."]})
    try:
        outcome = pipeline.check(body)
    except ValidationError as error:
        raise validation_problem(error) from error
    return outcome.request, outcome.result, outcome.ruleset


@bp.post("/v1/check")
def check():
    """Check one patient's medication list."""
    _request_data, result, ruleset = _run_check()
    return jsonify(check_response(result, ruleset))


@bp.post("/v1/check/fhir")
def check_fhir():
    """The same check, answered as a FHIR R4 Bundle of DetectedIssue resources."""
    request_data, result, _ruleset = _run_check()
    names = {med["id"]: med.get("name") or "" for med in request_data["medications"]}
    response = jsonify(detected_issue_bundle(result, names))
    response.mimetype = "application/fhir+json"
    return response


@bp.get("/v1/rules")
def rules():
    """The rule catalogue."""
    return jsonify(
        {
            "ruleset": {"name": RULESET_NAME, "version": RULESET_VERSION},
            "rules": catalogue(),
            "definitions": definition_catalogue(),
            "vocabulary": vocabulary_sources(),
        }
    )


def vocabulary_sources():
    """The vocabulary in use and its sources with their versions."""
    vocabulary = current_pipeline().checker.vocabulary
    return {"version": vocabulary.version, "sources": list(vocabulary.sources)}


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. No dependencies."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: the vocabulary and rules are loaded."""
    return jsonify(
        {"status": "ready", "ruleset": current_pipeline().checker.ruleset, "vocabulary": vocabulary_sources()}
    )


@bp.get("/openapi.yaml")
def openapi():
    """The contract."""
    return Response(OPENAPI_PATH.read_text(encoding="utf-8"), mimetype="application/yaml")
