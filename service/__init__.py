"""The LDN medication-safety service: the application factory, which only wires the parts together."""

import logging
from typing import TYPE_CHECKING

from flask import Flask, g

from service.json_provider import OrjsonProvider
from service.logs import configure_logging, install_request_logging
from service.runtime import check_api_key

if TYPE_CHECKING:
    from service.checker import Checker

DEFAULTS: dict[str, object] = {
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # bytes of request body
    "MAX_MEDICATIONS": 500,  # per request
    "API_KEY": None,  # when set, the native API requires "Authorization: Bearer <key>"
    "VOCABULARY_PATH": None,  # default: rules/knowledge/data/vocabulary.json
    "LOG_LEVEL": "INFO",
    "CORS_ORIGINS": [],
    "CDS_TRUSTED_ISSUERS": {},  # issuer -> JWKS URL
    "CDS_AUDIENCE": None,  # public base URL the EHR calls
    "CDS_ALLOW_UNSIGNED": False,  # local development only
    "CDS_JTI_CACHE_SIZE": 100_000,  # for CDS_JTI_STORE=memory
    "CDS_JTI_STORE": "sqlite",  # replay protection shared by the workers: sqlite (default), redis://…, memory
    "CDS_JTI_DB": None,  # the SQLite file (default: beside the workers' metrics)
    "FHIR_TIMEOUT_SECONDS": 3.0,
    "METRICS_PORT": None,  # when set, /metrics answers only on this port (gunicorn.conf.py binds it too)
}

log = logging.getLogger("service")
_CHECKERS: dict[str | None, "Checker"] = {}


def shared_checker(vocabulary_path):
    """One checker per vocabulary per process: the vocabulary and compiled rules are read-only."""
    from service.checker import Checker  # noqa: PLC0415  (imports durable-rules; only when an app is made)

    if vocabulary_path not in _CHECKERS:
        _CHECKERS[vocabulary_path] = Checker(vocabulary_path)
    return _CHECKERS[vocabulary_path]


def _access_fields(ruleset):
    """An observer noting what a check found, for the access log line (codes and counts only, never names)."""
    # Which knowledge answered, so an operator can tie a logged answer to a ruleset and vocabulary.
    versions = {"ruleset_version": ruleset["version"], "vocabulary_version": ruleset["vocabulary_version"]}

    def observe(result):
        found = g._get_current_object().__dict__  # one context lookup for the four fields, not one each
        found["alert_codes"] = sorted({alert["code"] for alert in result.alerts})
        found["unrecognized"] = sum(1 for med in result.medications if not med["recognized"])
        found.update(versions)

    return observe


def create_app(config=None):
    """Create the Flask app: settings from LDN_* variables, then `config`; refuses to start without knowledge."""
    app = Flask(__name__)
    app.json = OrjsonProvider(app)  # fields in the order the contract lists them; orjson is the cheap encoder
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env(prefix="LDN")
    if config:
        app.config.update(config)
    configure_logging(app.config["LOG_LEVEL"])
    check_api_key(app.config["API_KEY"])  # raises ConfigurationError: never serve with a key anyone could know

    # Imported here: the views import the checker, and the checker imports durable-rules.
    from service import api, cds_hooks, errors, metrics, pages, security  # noqa: PLC0415
    from service.pipeline import Pipeline  # noqa: PLC0415

    errors.register_error_handlers(app)
    install_request_logging(app)
    security.install_security_headers(app)
    checker = shared_checker(app.config["VOCABULARY_PATH"])  # raises VocabularyError: never serve without it
    observers = [_access_fields(checker.ruleset)]
    app.extensions["ldn_pipeline"] = Pipeline(checker, app.config["MAX_MEDICATIONS"], observers=observers)
    metrics.install_metrics(app)  # GET /metrics; adds an observer to the pipeline so checks are also counted
    app.register_blueprint(api.bp)
    app.register_blueprint(cds_hooks.bp)  # CDS Hooks 2.0: /cds-services (checks the EHR's JWT; see cds_auth)
    app.register_blueprint(pages.bp)  # GET/POST /: the rule catalogue and try-it page (HTML)
    log.info(
        "service ready",
        extra={
            "event": "startup",
            "ruleset_version": checker.ruleset["version"],
            "vocabulary_version": checker.ruleset["vocabulary_version"],
        },
    )
    return app
