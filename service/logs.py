"""Structured JSON logs: one line per request, with a request id and no patient data."""

import atexit
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
import uuid

from flask import g, has_request_context, request

_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


class JsonFormatter(logging.Formatter):
    """Render log records as one JSON object per line."""

    def format(self, record):
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in (
            "event",
            "request_id",
            "method",
            "path",
            "status",
            "duration_ms",
            "alert_codes",
            "ruleset_version",
            "vocabulary_version",
            "unrecognized",
            "service",
            "outcome",
            "count",
        ):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if "request_id" not in entry and has_request_context() and g.get("request_id"):
            # Every line written while answering a request carries its id, so it matches the access line.
            entry["request_id"] = g.request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class BackgroundHandler(logging.handlers.QueueHandler):
    """Format a record on the thread that logs it (the request context is there), write it from a listener thread:
    the request thread never waits on the stderr pipe. One listener per process, started on the first record, so
    workers forked from a preloaded master each get their own (a thread does not survive fork)."""

    def __init__(self, stream):
        super().__init__(queue.Queue())
        self.setFormatter(JsonFormatter())
        self._writer = logging.StreamHandler(stream)
        self._writer.setFormatter(logging.Formatter("%(message)s"))
        self._pid = None
        self._lock = threading.Lock()
        self._listener = None

    def emit(self, record):
        if self._pid != os.getpid():
            self._start()
        super().emit(record)

    def _start(self):
        with self._lock:
            if self._pid == os.getpid():
                return
            self.queue = queue.Queue()  # a queue inherited across fork may hold the parent's lines
            self._listener = logging.handlers.QueueListener(self.queue, self._writer)
            self._listener.start()
            self._pid = os.getpid()
            atexit.register(self.flush_and_stop)

    def flush(self):
        """Wait until every queued line is written (logging.shutdown and tests call this)."""
        if self._listener is not None and self._pid == os.getpid():
            self.queue.join()
        self._writer.flush()

    def flush_and_stop(self):
        """Write what is queued and stop the listener (at exit, and in tests that read the stream)."""
        with self._lock:
            if self._listener is not None and self._pid == os.getpid():
                self._listener.stop()
                self._listener = None
                self._pid = None


_HANDLERS: dict[int, BackgroundHandler] = {}  # one per stream, so apps made again reuse its listener


def configure_logging(level):
    """Send the service's logs to stderr as JSON lines, written off the request thread."""
    handler = _HANDLERS.get(id(sys.stderr))
    if handler is None:
        handler = _HANDLERS[id(sys.stderr)] = BackgroundHandler(sys.stderr)
    for name in ("service", "rules"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def clean_request_id(value):
    """Accept a caller's X-Request-ID only if it is short and plain; otherwise make one."""
    if value and len(value) <= 128 and set(value) <= _REQUEST_ID_OK:
        return value
    return uuid.uuid4().hex


def install_request_logging(app):
    """A request id for every request (echoed back) and one access line per request."""
    access = logging.getLogger("service.access")

    @app.before_request
    def start_request():
        g.request_id = clean_request_id(request.headers.get("X-Request-ID"))
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        request_id = g.get("request_id") or clean_request_id(None)
        response.headers["X-Request-ID"] = request_id
        started = g.get("started")
        # Health probes arrive every few seconds from orchestrators: keep them out of the info log.
        level = logging.DEBUG if request.path in ("/healthz", "/readyz", "/metrics") else logging.INFO
        access.log(
            level,
            "request",
            extra={
                "event": "request",
                "request_id": request_id,
                "method": request.method,
                "path": request.url_rule.rule if request.url_rule else "<unmatched>",
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                "alert_codes": g.get("alert_codes"),
                "unrecognized": g.get("unrecognized"),
                "ruleset_version": g.get("ruleset_version"),
                "vocabulary_version": g.get("vocabulary_version"),
            },
        )
        return response
