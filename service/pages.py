"""The rule catalogue and try-it page: GET / (server-rendered HTML) and POST / (a form-encoded check).

The form builds a native check request (one medication per pasted line), validates it with the same
CheckRequestSchema as POST /v1/check and runs the same Checker, so the alerts shown are the API's alerts.
When LDN_API_KEY is set, the form is switched off (a browser form cannot send the Bearer key) and POST /
answers 401 unless it carries `Authorization: Bearer <key>`, exactly like POST /v1/check.
"""

import datetime
import json

from flask import Blueprint, current_app, render_template, request
from marshmallow import ValidationError

from rules.catalogue import RULESET_NAME, RULESET_VERSION, catalogue, definition_catalogue, sources
from schemas.check import MEDICATION_STATUSES, flatten_errors
from service.api import check_response
from service.auth import api_key_accepted
from service.pipeline import current_pipeline

bp = Blueprint("pages", __name__)

LIST_STATUSES = ("active", "proposed")  # the choice offered for the whole pasted list
MAX_FORM_LINES = 500  # lines read from each textarea; the schema's own limits apply to what is sent on


def _api_key_configured():
    return bool(current_app.config.get("API_KEY"))


def _lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()][:MAX_FORM_LINES]


def _medication(index, line, default_status):
    """One pasted line; a leading "proposed:" (or any medication status) sets that line's status."""
    status = default_status
    prefix, sep, rest = line.partition(":")
    if sep and prefix.strip().lower() in MEDICATION_STATUSES and rest.strip():
        status, line = prefix.strip().lower(), rest.strip()
    # A pasted line is both what the medication is and how it is taken ("oxycodone 5 mg every 6 hours").
    # The line goes as the name only: the service reads a sig written inside the name with the same reader as
    # the instructions field, so the page and the API give the same answer for the same words.
    return {"id": str(index + 1), "name": line, "status": status}


def build_request(form):
    """The native check request the form describes (unvalidated: the schema decides), and form-level errors."""
    errors = {}
    default_status = form.get("status") or "active"
    if default_status not in LIST_STATUSES:
        errors["status"] = [f"Must be one of: {', '.join(LIST_STATUSES)}."]
        default_status = "active"
    lines = _lines(form.get("medications"))
    if not lines:
        errors["medications"] = ["Paste at least one medication, one per line."]
    body = {"medications": [_medication(i, line, default_status) for i, line in enumerate(lines)]}
    if form.get("as_of", "").strip():
        body["as_of"] = form["as_of"].strip()
    patient = {}
    if form.get("last_opioid_use", "").strip():
        patient["last_opioid_use"] = form["last_opioid_use"].strip()
    if form.get("opioid_dependence"):
        patient["opioid_dependence"] = True
    conditions = _lines(form.get("conditions"))
    if conditions:
        patient["conditions"] = [{"name": name} for name in conditions]
    if patient:
        body["patient"] = patient
    return body, errors


_FIELD_LABELS = {
    "as_of": "Check date",
    "patient.last_opioid_use": "Last opioid use",
    "patient.opioid_dependence": "Current opioid dependence",
    "medications": "Medications",
    "status": "Status of the pasted list",
}


def _readable(errors):
    """Schema error paths as the reviewer knows them: "Medication line 2", "Condition line 1"."""
    readable = []
    for path, messages in sorted(errors.items()):
        label = _FIELD_LABELS.get(path)
        if label is None and path.startswith("medications["):
            index = path[len("medications[") :].split("]", 1)[0]
            label = f"Medication line {int(index) + 1}" if index.isdigit() else path
        elif label is None and path.startswith("patient.conditions["):
            index = path[len("patient.conditions[") :].split("]", 1)[0]
            label = f"Condition line {int(index) + 1}" if index.isdigit() else path
        readable.append({"field": label or path, "path": path, "messages": messages})
    return readable


def _render(status=200, **context):
    context.setdefault("form", {})
    context.setdefault("result", None)
    context.setdefault("errors", [])
    context.setdefault("notice", None)
    html = render_template(
        "index.html",
        rules=_catalogue(),
        definitions=definition_catalogue(),
        sources={ref["id"]: ref for ref in sources()},
        ruleset={"name": RULESET_NAME, "version": RULESET_VERSION},
        form_enabled=not _api_key_configured(),
        list_statuses=LIST_STATUSES,
        today=datetime.date.today().isoformat(),
        **context,
    )
    return html, status, {"Content-Type": "text/html; charset=utf-8"}


_CATALOGUE = None


def _catalogue():
    global _CATALOGUE  # noqa: PLW0603  (the catalogue is static: built once per process)
    if _CATALOGUE is None:
        _CATALOGUE = catalogue()
    return _CATALOGUE


@bp.get("/")
def index():
    """The rule catalogue and an empty try-it form."""
    return _render()


@bp.post("/")
def try_it():
    """Check the pasted list; alerts as POST /v1/check returns them, and how each line was understood."""
    form = {
        key: request.form.get(key, "")
        for key in ("medications", "as_of", "last_opioid_use", "conditions", "status", "opioid_dependence")
    }
    if not api_key_accepted():
        return _render(
            401,
            form=form,
            notice="This service requires an API key, so the try-it form is "
            "switched off. Use POST /v1/check with your key.",
        )
    body, form_errors = build_request(form)
    pipeline = current_pipeline()
    try:
        validated = pipeline.validate(body)
    except ValidationError as error:
        form_errors = {**flatten_errors(error.messages), **form_errors}
    if form_errors:
        return _render(422, form=form, errors=_readable(form_errors))
    outcome = pipeline.check_validated(validated)
    result = outcome.result
    response = check_response(result, outcome.ruleset)
    names = {med["id"]: med["name"] for med in body["medications"]}
    medications = [dict(view, line=int(view["id"]), text=names.get(view["id"], "")) for view in result.medications]
    return _render(
        200,
        form=form,
        result={
            "as_of": response["as_of"],
            "alerts": response["alerts"],
            "medications": medications,
            "names": names,
            "ruleset": response["ruleset"],
            "json": json.dumps(response, indent=2, ensure_ascii=False),
        },
    )
