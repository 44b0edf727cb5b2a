"""The worker pool and the pipeline each worker runs: input items in, check outcomes out, in input order."""

from __future__ import annotations

import collections
import multiprocessing
from collections.abc import Iterable, Iterator
from multiprocessing.pool import AsyncResult
from typing import Any, TypeVar

from marshmallow import ValidationError

from schemas.check import flatten_errors
from service.batch.records import (
    AlertRow,
    CheckOutcome,
    CsvPatient,
    InputItem,
    LineError,
    NdjsonLine,
    PatientResult,
    UnreadableLine,
)
from service.batch.translate import InvalidLine, from_csv, from_ndjson

CHUNK_SIZE = 128  # patients per task sent to a worker
IN_FLIGHT_PER_WORKER = 4  # chunks queued per worker: bounds memory and keeps every worker busy

T = TypeVar("T")

# One per process, set by init_worker: a Pool hands its initializer's work to the tasks only through globals.
_WORKER: dict[str, Any] = {}


def init_worker(vocabulary_path: str | None, max_medications: int, default_as_of: str | None) -> None:
    """Build this process's pipeline once: the rules engine's C core is never shared across processes."""
    from service.checker import Checker  # noqa: PLC0415  (imports durable-rules, in the worker only)
    from service.pipeline import Pipeline  # noqa: PLC0415

    _WORKER["pipeline"] = Pipeline(Checker(vocabulary_path), max_medications)
    _WORKER["as_of"] = default_as_of


def ensure_worker(vocabulary_path: str | None, max_medications: int, default_as_of: str | None) -> None:
    """init_worker, unless this process already holds that pipeline (a Spark Python worker runs many tasks)."""
    settings = (vocabulary_path, max_medications, default_as_of)
    if _WORKER.get("settings") != settings:
        init_worker(*settings)
        _WORKER["settings"] = settings


def _schema_errors(error: ValidationError) -> str:
    flat = flatten_errors(error.messages)
    return "; ".join(f"{path}: {' '.join(messages)}" for path, messages in sorted(flat.items()))


def _error_line(error: ValidationError, lines: list[int]) -> int | None:
    """The CSV line of the first medication a schema error names, if any."""
    messages = error.messages.get("medications") if isinstance(error.messages, dict) else None
    if isinstance(messages, dict):
        indexes = sorted(k for k in messages if isinstance(k, int) and k < len(lines))
        if indexes:
            return lines[indexes[0]]
    return None


def _unrecognized_name(med: dict[str, Any]) -> str:
    if med.get("name"):
        return " ".join(med["name"].split())
    codes = med.get("codes") or ()
    return ", ".join(f"{c['code']} ({c['system'].rsplit('/', 1)[-1]})" for c in codes) or "(no name)"


def _request(item: NdjsonLine | CsvPatient) -> tuple[str, dict[str, Any]]:
    """(patient id, validated request) of one item; InvalidLine names the CSV row at fault where it can."""
    lines: list[int] = []
    if isinstance(item, NdjsonLine):
        patient_id, body = from_ndjson(item.raw, item.line)
    else:
        patient_id = item.patient_id
        body, lines = from_csv(item)
    if _WORKER["as_of"] and "as_of" not in body:
        body["as_of"] = _WORKER["as_of"]
    try:
        return patient_id, _WORKER["pipeline"].validate(body)
    except ValidationError as error:
        raise InvalidLine(_schema_errors(error), _error_line(error, lines)) from error


def check_item(item: InputItem) -> CheckOutcome:
    """Check one patient, or pass on why its line could not be read."""
    if isinstance(item, UnreadableLine):
        return LineError(item.line, item.line, f"line {item.line}: {item.reason}; skipped")
    first, last = (item.line, item.line) if isinstance(item, NdjsonLine) else (item.first, item.last)
    try:
        patient_id, request = _request(item)
    except InvalidLine as error:
        if isinstance(item, CsvPatient) and first != last:
            where = f"line {error.line or first} (patient {item.patient_id!r}, lines {first}-{last})"
            return LineError(first, last, f"{where}: {error}; patient skipped", len(item.rows))
        return LineError(first, last, f"line {error.line or first}: {error}; skipped")
    result = _WORKER["pipeline"].check_validated(request).result
    alerts = tuple(
        AlertRow(a["code"], a["severity"], a["rule"], tuple(a["medications"]), a["summary"]) for a in result.alerts
    )
    by_id = {med["id"]: med for med in request["medications"]}
    unrecognized = tuple(_unrecognized_name(by_id[m["id"]]) for m in result.medications if not m["recognized"])
    return PatientResult(first, last, patient_id, alerts, unrecognized)


def repeated_patient(result: PatientResult) -> LineError:
    """A second record of a patient already checked: skipped, as for CSV, since it would double their alerts."""
    return LineError(
        result.first,
        result.last,
        f"line {result.first}: patient_id {result.patient_id!r} appears again (each patient once); skipped",
    )


def check_chunk(chunk: list[InputItem]) -> list[CheckOutcome]:
    """The task a worker runs: a chunk rather than one item, so the pickling and queueing cost is shared."""
    return [check_item(item) for item in chunk]


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def outcomes_in_order(
    items: Iterable[InputItem],
    workers: int,
    vocabulary_path: str | None,
    max_medications: int,
    default_as_of: str | None,
) -> Iterator[CheckOutcome]:
    """Check every item, yielding outcomes in input order, with at most workers*4 chunks in flight."""
    chunks = _chunks(items, CHUNK_SIZE)
    if workers <= 1:
        init_worker(vocabulary_path, max_medications, default_as_of)
        for chunk in chunks:
            yield from check_chunk(chunk)
        return
    # forkserver: workers start from a clean process (no tqdm thread, no engine) and build their own checker.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["service.checker"])  # imports only; each worker builds its checker
    # Pool.imap would read the whole input ahead of the workers; a deque of apply_async keeps it bounded.
    with context.Pool(workers, init_worker, (vocabulary_path, max_medications, default_as_of)) as pool:
        pending: collections.deque[AsyncResult[list[CheckOutcome]]] = collections.deque()
        limit = workers * IN_FLIGHT_PER_WORKER
        for chunk in chunks:
            pending.append(pool.apply_async(check_chunk, (chunk,)))
            while len(pending) >= limit:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
