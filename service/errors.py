"""One error shape for every non-200 answer: RFC 9457 problem documents, raised from one base, rendered once."""

import logging

from flask import current_app, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://ldn-safety.example/problems/"


class Problem(Exception):
    """An answer that is not a success: status, a stable type slug, a title and a detail."""

    status = 500
    slug = "internal-error"
    title = "Internal server error"

    def __init__(self, detail=None, errors=None, headers=None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}

    def body(self):
        """The problem document."""
        body = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        request_id = g.get("request_id")
        if request_id:
            body["instance"] = f"urn:request:{request_id}"
        if self.errors:
            body["errors"] = self.errors
        return body


class MalformedJSON(Problem):
    status, slug, title = 400, "malformed-json", "Malformed JSON"


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Unauthorized"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(Problem):
    status, slug, title = 422, "validation-error", "Request does not match the schema"


class RequestHeaderTooLarge(Problem):
    status, slug, title = 431, "header-too-large", "Request header fields too large"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "unavailable", "Service unavailable"


class InternalError(Problem):
    status, slug, title = 500, "internal-error", "Internal server error"


_BY_STATUS = {cls.status: cls for cls in Problem.__subclasses__() if cls is not ValidationFailed}
_BY_STATUS[400] = BadRequest


def problem_response(problem):
    """Render a Problem as application/problem+json."""
    response = jsonify(problem.body())
    response.status_code = problem.status
    response.mimetype = PROBLEM_JSON
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def _from_http_exception(error):
    cls = _BY_STATUS.get(error.code)
    if cls is None:
        cls = type("HTTPProblem", (Problem,), {"status": error.code, "slug": "http-error", "title": error.name})
    headers = {}
    if error.code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    detail = error.description if error.code != 500 else None
    if error.code == 413:
        detail = f"The request body exceeds {current_app.config['MAX_CONTENT_LENGTH']} bytes."
    return cls(detail, headers=headers)


def register_error_handlers(app):
    """Every error, expected or not, leaves as a problem document; internal ones are logged, never shown."""

    @app.errorhandler(Problem)
    def handle_problem(problem):
        if problem.status >= 500:
            log.error("request failed: %s", problem.detail, extra={"event": "request_failed"})
            problem = type(problem)()  # the detail of an internal failure stays in the log
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error):
        return problem_response(_from_http_exception(error))

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        log.exception("unhandled error", extra={"event": "unhandled_error"})
        return problem_response(InternalError())


# --- CDS Hooks answers its errors as FHIR OperationOutcome: the same Problems, rendered for FHIR clients --------

_OUTCOME_CODES = {
    400: "invalid",
    401: "login",
    404: "not-found",
    405: "not-supported",
    412: "incomplete",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    503: "transient",
}


def outcome_response(status, diagnostics=None, headers=None):
    """An OperationOutcome answer; a 401 or 5xx carries no diagnostics."""
    issue = {"severity": "error", "code": _OUTCOME_CODES.get(status, "exception")}
    if diagnostics and status != 401 and status < 500:
        issue["diagnostics"] = diagnostics
    response = jsonify({"resourceType": "OperationOutcome", "issue": [issue]})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
