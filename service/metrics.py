"""Prometheus metrics at GET /metrics: requests, alerts, unrecognized medications, engine time, CDS feedback."""

import os
import time
from typing import Any

from flask import Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import MethodNotAllowed

# prometheus_client picks file-backed values when PROMETHEUS_MULTIPROC_DIR is set at import time (gunicorn.conf.py
# sets it); without it (tests, a single process) the metrics live in this process's default registry.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Latency of a whole request, from a quarter millisecond (most checks answer in 1-2 ms) up to the worker timeout.
REQUEST_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Engine and normalisation steps are sub-millisecond for small lists.
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Label values must stay bounded: an arbitrary method token or feedback outcome would grow the series forever.
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
FEEDBACK_OUTCOMES = frozenset({"accepted", "overridden"})
UNMATCHED = "<unmatched>"

REQUESTS = Counter(
    "ldn_http_requests_total",
    "HTTP requests by endpoint (URL rule), method and status.",
    ["endpoint", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "ldn_http_request_duration_seconds",
    "HTTP request latency by endpoint (URL rule), method and status.",
    ["endpoint", "method", "status"],
    buckets=REQUEST_BUCKETS,
)
ALERTS = Counter("ldn_alerts_total", "Alerts returned, by alert code and severity.", ["code", "severity"])
MEDICATIONS = Counter("ldn_medications_checked_total", "Medications checked (recognized or not).")
UNRECOGNIZED = Counter("ldn_unrecognized_medications_total", "Medications the vocabulary did not recognize.")
ENGINE_SECONDS = Histogram(
    "ldn_rule_evaluation_seconds",
    "Time the rules engine took per check.",
    buckets=STEP_BUCKETS,
)
NORMALISE_SECONDS = Histogram(
    "ldn_normalisation_seconds",
    "Time normalising medications and building facts took per check.",
    buckets=STEP_BUCKETS,
)
FEEDBACK = Counter(
    "ldn_cds_feedback_total",
    "CDS Hooks card feedback by service and outcome.",
    ["service", "outcome"],
)
# livemax: one series however many workers, and a dead worker's copy is dropped by mark_process_dead.
BUILD_INFO = Gauge(
    "ldn_build_info",
    "The knowledge answering checks: ruleset name and version, vocabulary version (always 1).",
    ["ruleset", "ruleset_version", "vocabulary_version"],
    multiprocess_mode="livemax",
)


def endpoint_label():
    """The URL rule a request matched; for a 405 the rule its path matched with another method (a real route,
    not an unmatched path); UNMATCHED otherwise."""
    if request.url_rule is not None:
        return request.url_rule.rule
    error = request.routing_exception
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        adapter = current_app.url_map.bind_to_environ(request.environ)
        try:
            rule, _ = adapter.match(method=sorted(error.valid_methods)[0], return_rule=True)
            return rule.rule
        except Exception:  # noqa: BLE001  (a label must never fail the request it counts)
            return UNMATCHED
    return UNMATCHED


def on_metrics_port():
    """True when no separate metrics port is configured, or the request came in on it."""
    port = current_app.config.get("METRICS_PORT")
    return not port or str(request.environ.get("SERVER_PORT")) == str(port)


def multiprocess_enabled():
    """True when metrics are shared between gunicorn workers through PROMETHEUS_MULTIPROC_DIR."""
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition():
    """The current metrics in the Prometheus text format: every worker's when multiprocess, else this process's."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


_CHILDREN: dict[tuple, Any] = {}  # (metric, label values) -> its child; every label set is bounded


def _child(metric, *values):
    """The metric's child for these label values: labels() takes a lock and checks every value on each call."""
    key = (metric, *values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


def record_check(result):
    """Count a check's alerts, its unrecognized medications and the time its steps took (no names)."""
    for alert in result.alerts:
        _child(ALERTS, alert["code"], alert["severity"]).inc()
    MEDICATIONS.inc(len(result.medications))
    unrecognized = sum(1 for med in result.medications if not med["recognized"])
    if unrecognized:
        UNRECOGNIZED.inc(unrecognized)
    ENGINE_SECONDS.observe(result.engine_seconds)
    NORMALISE_SECONDS.observe(result.normalise_seconds)


def record_feedback(service_id, outcome):
    """Count one CDS Hooks feedback outcome ("accepted", "overridden"; anything else counts as "other")."""
    outcome = outcome if outcome in FEEDBACK_OUTCOMES else "other"
    FEEDBACK.labels(service=str(service_id)[:64], outcome=outcome).inc()


def install_metrics(app):
    """Serve GET /metrics, time and count every request, and extend the app's observe hook to record checks."""
    pipeline = app.extensions["ldn_pipeline"]
    ruleset = pipeline.checker.ruleset
    build_labels = {
        "ruleset": ruleset["name"],
        "ruleset_version": ruleset["version"],
        "vocabulary_version": ruleset["vocabulary_version"],
    }
    BUILD_INFO.labels(**build_labels).set(1)

    stated_by = []  # the processes that have stated the build info

    def observe(result):
        """Count the check."""
        record_check(result)
        # Every worker that answered states which knowledge it used (a forked worker starts with zeroed values):
        # once per process, the first time it answers.
        if stated_by[-1:] != [os.getpid()]:
            BUILD_INFO.labels(**build_labels).set(1)
            stated_by.append(os.getpid())

    pipeline.observe(observe)
    app.extensions["ldn_feedback"] = record_feedback

    @app.before_request
    def start_timer():
        g.metrics_started = time.perf_counter()
        port = app.config.get("METRICS_PORT")
        if port and on_metrics_port() and request.path != "/metrics":
            abort(404)  # the metrics port serves metrics only

    @app.after_request
    def count_request(response):
        started = g.get("metrics_started")
        method = request.method
        labels = (endpoint_label(), method if method in KNOWN_METHODS else "other", str(response.status_code))
        _child(REQUESTS, *labels).inc()
        if started is not None:
            _child(REQUEST_SECONDS, *labels).observe(time.perf_counter() - started)
        return response

    def metrics():
        """Prometheus scrape endpoint; no API key, so served only on the metrics port when one is configured."""
        if not on_metrics_port():
            abort(404)
        # A forked worker starts with zeroed values: restate the build info so every scrape carries it.
        BUILD_INFO.labels(**build_labels).set(1)
        return Response(exposition(), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics, methods=["GET"])
    return app
