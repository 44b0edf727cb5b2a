"""Structured JSON logs: one line per request, with a request id and no patient data."""

import atexit
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid

from flask import g, has_request_context, request

_BATCH = 256  # lines per write at most
_GATHER_S = 0.02  # after a line arrives, the writer waits this long for more: one wake and one write per batch
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
        # The standard library's spacing ('"level": "error"'), which log pipelines already match on.
        return json.dumps(entry)


class BackgroundHandler(logging.Handler):
    """Format a record on the thread that logs it (the request context is there), write it from a writer thread:
    the request thread never waits on the stderr pipe. One writer per process, started on the first record, so
    workers forked from a preloaded master each get their own (a thread does not survive fork). SimpleQueue: a
    put is one C call, without the lock and notify of queue.Queue."""

    def __init__(self, stream):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self._stream = stream
        self._queue = queue.SimpleQueue()
        self._pid = None
        self._lock = threading.Lock()

    def emit(self, record):
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001  (logging must never break the request; the stdlib reports it)
            self.handleError(record)
            return
        if self._pid != os.getpid():
            self._start()
        self._queue.put(line)

    def _start(self):
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()  # a queue inherited across fork may hold the parent's lines
            threading.Thread(target=self._write, args=(self._queue,), name="log-writer", daemon=True).start()
            self._pid = os.getpid()
            atexit.register(self.flush)

    def _write(self, lines):
        while True:
            batch = [lines.get()]
            if not isinstance(batch[0], threading.Event):
                # A put that finds the writer asleep wakes nobody; one per line cost the request threads as
                # much as the write itself (issue 17's profile). A line may appear up to this much later.
                time.sleep(_GATHER_S)
            while len(batch) < _BATCH and not lines.empty():
                batch.append(lines.get())
            text = [line + "\n" for line in batch if isinstance(line, str)]
            try:
                if text:
                    self._stream.write("".join(text))
                if len(text) < len(batch):  # flush(): everything queued before its event is written
                    self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream: nothing useful to do from here, and the writer keeps going
            finally:
                for line in batch:
                    if isinstance(line, threading.Event):
                        line.set()

    def flush(self):
        """Wait until every queued line is written (at exit, and in tests that read the stream)."""
        if self._pid == os.getpid():
            done = threading.Event()
            self._queue.put(done)
            done.wait(timeout=5)


_HANDLERS: dict[int, BackgroundHandler] = {}  # one per stream, so apps made again reuse its listener


def configure_logging(level):
    """Send the service's logs to stderr as JSON lines, written off the request thread."""
    # No line carries the caller's file, thread or process name: not looking them up saves a frame walk and
    # three lookups per record (the logging documentation's "Optimization" switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
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
        found = g._get_current_object().__dict__  # the proxies cost a context lookup per access: one each here
        found["request_id"] = clean_request_id(request._get_current_object().headers.get("X-Request-ID"))
        found["started"] = time.perf_counter()

    @app.after_request
    def finish_request(response):
        found = g._get_current_object().__dict__
        current = request._get_current_object()
        request_id = found.get("request_id") or clean_request_id(None)
        response.headers["X-Request-ID"] = request_id
        # Health probes arrive every few seconds from orchestrators: keep them out of the info log.
        level = logging.DEBUG if current.path in ("/healthz", "/readyz", "/metrics") else logging.INFO
        if not access.isEnabledFor(level):
            return response
        started = found.get("started")
        access.log(
            level,
            "request",
            extra={
                "event": "request",
                "request_id": request_id,
                "method": current.method,
                "path": current.url_rule.rule if current.url_rule else "<unmatched>",
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                "alert_codes": found.get("alert_codes"),
                "unrecognized": found.get("unrecognized"),
                "ruleset_version": found.get("ruleset_version"),
                "vocabulary_version": found.get("vocabulary_version"),
            },
        )
        return response
