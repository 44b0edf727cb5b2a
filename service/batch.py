"""Batch screening: `python -m service.batch INPUT [--output OUTPUT] [--format ndjson|csv] [--workers N]`.

Reads patients as NDJSON (one native check request per line, with an optional top-level `patient_id`) or CSV
(one row per medication, rows of one patient contiguous), checks each with the same schema, normalisation and
rules as `POST /v1/check`, and writes one record per alert (a patient without alerts gets one record with an
empty code). Streaming: lines are read, checked and written as they come, with a bounded number of chunks in
flight, so memory stays flat however many patients there are. Output order is input order.

Exit status: 0 every line was checked, 1 at least one line failed (each reported on stderr with its line
number and reason, then skipped), 2 usage error (bad arguments, unreadable input, unusable CSV header).
"""

import argparse
import collections
import csv
import datetime
import hashlib
import io
import json
import multiprocessing
import os
import sys
import time
from array import array

from marshmallow import ValidationError

from rules.knowledge.text import has_control_characters
from rules.knowledge.systems import canonical_system
from schemas.check import DEFAULT_MAX_MEDICATIONS, MAX_ID, NDC, RXNORM, flatten_errors
from service.requests import JSONTextError, decode_json

MAX_LINE_BYTES = 1024 * 1024  # the API's default body limit: one NDJSON line is one request body
CHUNK_SIZE = 128  # patients per task sent to a worker
IN_FLIGHT_PER_WORKER = 4  # chunks queued per worker: bounds memory and keeps every worker busy
MAX_DISTINCT_UNRECOGNISED = 50_000  # distinct unrecognised names counted individually; the rest pooled
SUMMARY_TOP = 25  # unrecognised names listed in the summary

OUTPUT_FIELDS = ("patient_id", "line", "code", "severity", "rule", "medications", "summary")
CSV_MEDICATION_COLUMNS = (
    "id", "name", "code_system", "code", "dose_value", "dose_unit", "strength_value", "strength_unit", "form",
    "frequency", "timing", "as_needed", "compounded", "instructions", "status", "start_date", "end_date",
)
CSV_PATIENT_COLUMNS = ("as_of", "opioid_dependence", "last_opioid_use", "conditions")
CSV_COLUMNS = ("patient_id", *CSV_MEDICATION_COLUMNS, *CSV_PATIENT_COLUMNS)
CODE_SYSTEMS = {"rxnorm": RXNORM, "ndc": NDC}
TRUE_WORDS = {"true", "yes", "y", "1"}
FALSE_WORDS = {"false", "no", "n", "0"}
SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class UsageError(Exception):
    """A problem with the arguments or the input as a whole (exit status 2)."""


class LineError(Exception):
    """A problem with one patient's line or rows: reported with its line number and skipped."""

    def __init__(self, reason, line=None):
        super().__init__(reason)
        self.line = line


# --- Reading --------------------------------------------------------------------------------------------------


def _ndjson_items(stream):
    """(kind, first line, last line, payload) per non-blank NDJSON line; over-long lines become errors."""
    line_no = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        line_no += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:  # skip the rest of the over-long line without holding it
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield ("error", line_no, line_no, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.strip():
            yield ("ndjson", line_no, line_no, raw)


class _SeenIds:
    """Patient ids already finished, as 64-bit digests in an open-addressing table (16-32 bytes a patient)."""

    def __init__(self):
        self._table = array("Q", bytes(8 * 1024))
        self._count = 0

    @staticmethod
    def _key(patient_id):
        digest = hashlib.blake2b(patient_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "little") or 1  # 0 marks an empty slot

    def _slot(self, table, key):
        mask = len(table) - 1
        slot = key & mask
        while table[slot] and table[slot] != key:
            slot = (slot + 1) & mask
        return slot

    def __contains__(self, patient_id):
        key = self._key(patient_id)
        return self._table[self._slot(self._table, key)] == key

    def add(self, patient_id):
        key = self._key(patient_id)
        slot = self._slot(self._table, key)
        if self._table[slot] == key:
            return
        self._table[slot] = key
        self._count += 1
        if self._count * 2 > len(self._table):
            old, self._table = self._table, array("Q", bytes(16 * len(self._table)))
            for value in old:
                if value:
                    self._table[self._slot(self._table, value)] = value


def _csv_items(stream):
    """(kind, first line, last line, payload) per patient: contiguous rows with the same patient_id."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise UsageError(f"line 1: the CSV header cannot be read: {error}") from error
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        raise UsageError(f"unknown CSV column(s) {', '.join(map(repr, unknown))}; the columns are: {', '.join(CSV_COLUMNS)}")
    if "patient_id" not in columns:
        raise UsageError("the CSV has no patient_id column")
    if len(set(columns)) != len(columns):
        raise UsageError("the CSV header repeats a column")
    seen = _SeenIds()
    current, rows, first = None, [], 0
    failed_ids = set()  # ids of groups already reported as repeats (only ever the bad ones)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            yield ("error", reader.line_num, reader.line_num, f"unreadable CSV row: {error}")
            continue
        line_no = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            yield ("error", line_no, line_no, f"expected {len(columns)} columns, got {len(row)}")
            continue
        record = dict(zip(columns, row, strict=True))
        patient_id = record["patient_id"].strip()
        if not patient_id:
            yield ("error", line_no, line_no, "empty patient_id")
            continue
        if patient_id != current:
            if current is not None:
                seen.add(current)
                if rows:
                    yield ("csv", first, rows[-1][0], (current, rows))
            current, rows, first = patient_id, [], line_no
            if patient_id in seen or patient_id in failed_ids:
                failed_ids.add(patient_id)
        if patient_id in failed_ids:
            yield ("error", line_no, line_no,
                   f"patient_id {patient_id!r} reappears after other patients (rows of one patient must be "
                   "contiguous)")
            rows = None
            continue
        rows.append((line_no, record))
    if current is not None and rows:
        yield ("csv", first, rows[-1][0], (current, rows))


def _chunks(items, size):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Turning a line into a native request ---------------------------------------------------------------------


def _patient_id(value, line_no):
    if value is None:
        return str(line_no)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LineError("patient_id: must be a string or an integer")
    text = str(value).strip()
    if not text or len(text) > MAX_ID or has_control_characters(text):
        raise LineError(f"patient_id: must be 1-{MAX_ID} characters without control characters")
    return text


def _from_ndjson(raw, line_no):
    """(patient id, request body) from one NDJSON line."""
    try:
        body = decode_json(raw)
    except JSONTextError as error:
        raise LineError(str(error)) from error
    if not isinstance(body, dict):
        raise LineError("each line must be a JSON object (one check request)")
    return _patient_id(body.pop("patient_id", None), line_no), body


def _cell(record, column):
    value = record.get(column)
    if value is None:
        return None
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        raise LineError(f"{column}: not valid UTF-8")
    value = value.strip()
    return value or None


def _number(record, column, line_no):
    value = _cell(record, column)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise LineError(f"{column}: {value[:40]!r} is not a number", line_no) from None


def _boolean(record, column, line_no):
    value = _cell(record, column)
    if value is None:
        return None
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise LineError(f"{column}: must be true or false (or yes/no, 1/0)", line_no)


def _quantity(record, prefix, line_no):
    value, unit = _number(record, f"{prefix}_value", line_no), _cell(record, f"{prefix}_unit")
    if value is None and unit is None:
        return None
    if value is None or unit is None:
        raise LineError(f"{prefix}_value and {prefix}_unit go together", line_no)
    return {"value": value, "unit": unit}


def _from_csv(patient_id, rows):
    """The native request of one patient's CSV rows, and the line of each medication."""
    medications, lines, patient, as_of = [], [], {}, None
    for line_no, record in rows:
        med = {}
        for column in ("id", "name", "form", "frequency", "timing", "instructions", "status", "start_date",
                       "end_date"):
            value = _cell(record, column)
            if value is not None:
                med[column] = value
        system, code = _cell(record, "code_system"), _cell(record, "code")
        if code is not None:
            if system is None:
                raise LineError("code needs code_system (rxnorm, ndc or a system URI)", line_no)
            med["codes"] = [{"system": canonical_system(CODE_SYSTEMS.get(system.lower(), system)), "code": code}]
        elif system is not None:
            raise LineError("code_system without code", line_no)
        for prefix in ("dose", "strength"):
            quantity = _quantity(record, prefix, line_no)
            if quantity is not None:
                med[prefix] = quantity
        for column in ("as_needed", "compounded"):
            flag = _boolean(record, column, line_no)
            if flag is not None:
                med[column] = flag
        facts = {
            "as_of": _cell(record, "as_of"),
            "last_opioid_use": _cell(record, "last_opioid_use"),
            "opioid_dependence": _boolean(record, "opioid_dependence", line_no),
            "conditions": _cell(record, "conditions"),
        }
        for key, value in facts.items():
            if value is None:
                continue
            known = as_of if key == "as_of" else patient.get(key)
            if known is not None and known != value:
                raise LineError(f"{key} differs between rows of one patient", line_no)
            if key == "as_of":
                as_of = value
            else:
                patient[key] = value
        if med:
            medications.append(med)
            lines.append(line_no)
    body = {"medications": medications}
    if as_of:
        body["as_of"] = as_of
    if "conditions" in patient:
        names = [n.strip() for n in patient.pop("conditions").split(";") if n.strip()]
        patient["conditions"] = [{"name": name} for name in names]
    if patient:
        body["patient"] = patient
    return body, lines


# --- Checking (runs in each worker process) -------------------------------------------------------------------

_WORKER = {}


def _init_worker(vocabulary_path, max_medications, default_as_of):
    """Build this process's pipeline once: the rules engine's C core is never shared across processes."""
    from service.checker import Checker  # noqa: PLC0415  (imports durable-rules, in the worker only)
    from service.pipeline import Pipeline  # noqa: PLC0415

    _WORKER["pipeline"] = Pipeline(Checker(vocabulary_path), max_medications)
    _WORKER["as_of"] = default_as_of


def _schema_errors(error):
    flat = flatten_errors(error.messages)
    return "; ".join(f"{path}: {' '.join(messages)}" for path, messages in sorted(flat.items()))


def _error_line(error, lines):
    """The CSV line of the first medication a schema error names, if any."""
    messages = error.messages.get("medications") if isinstance(error.messages, dict) else None
    if isinstance(messages, dict):
        indexes = sorted(k for k in messages if isinstance(k, int) and k < len(lines))
        if indexes:
            return lines[indexes[0]]
    return None


def _unrecognised_name(med):
    if med.get("name"):
        return " ".join(med["name"].split())
    codes = med.get("codes") or ()
    return ", ".join(f"{c['code']} ({c['system'].rsplit('/', 1)[-1]})" for c in codes) or "(no name)"


def _check_item(item):
    """One patient: ("ok", first, last, patient id, alerts, unrecognised names) or ("error", first, last, reason)."""
    kind, first, last, payload = item
    if kind == "error":
        return ("error", first, last, f"line {first}: {payload}; skipped")
    try:
        lines = ()
        if kind == "ndjson":
            patient_id, body = _from_ndjson(payload, first)
        else:
            patient_id, rows = payload
            body, lines = _from_csv(patient_id, rows)
        if _WORKER["as_of"] and "as_of" not in body:
            body["as_of"] = _WORKER["as_of"]
        try:
            request = _WORKER["pipeline"].validate(body)
        except ValidationError as error:
            raise LineError(_schema_errors(error), _error_line(error, lines)) from error
    except LineError as error:
        if kind == "csv" and first != last:
            where = f"line {error.line or first} (patient {payload[0]!r}, lines {first}-{last})"
            return ("error", first, last, f"{where}: {error}; patient skipped")
        return ("error", first, last, f"line {error.line or first}: {error}; skipped")
    result = _WORKER["pipeline"].check_validated(request).result
    alerts = [(a["code"], a["severity"], a["rule"], tuple(a["medications"]), a["summary"]) for a in result.alerts]
    by_id = {med["id"]: med for med in request["medications"]}
    unrecognised = [_unrecognised_name(by_id[m["id"]]) for m in result.medications if not m["recognized"]]
    return ("ok", first, last, patient_id, alerts, unrecognised)


def _check_chunk(chunk):
    return [_check_item(item) for item in chunk]


def _results_in_order(items, workers, vocabulary_path, max_medications, default_as_of):
    """Check every item, yielding results in input order, with at most workers*4 chunks in flight."""
    chunks = _chunks(items, CHUNK_SIZE)
    if workers <= 1:
        _init_worker(vocabulary_path, max_medications, default_as_of)
        for chunk in chunks:
            yield from _check_chunk(chunk)
        return
    # forkserver: workers start from a clean process (no tqdm thread, no engine) and build their own checker.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["service.checker"])  # imports only; each worker builds its checker
    # Pool.imap would read the whole input ahead of the workers; a deque of apply_async keeps it bounded.
    with context.Pool(workers, _init_worker, (vocabulary_path, max_medications, default_as_of)) as pool:
        pending = collections.deque()
        limit = workers * IN_FLIGHT_PER_WORKER
        for chunk in chunks:
            pending.append(pool.apply_async(_check_chunk, (chunk,)))
            while len(pending) >= limit:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


# --- Writing --------------------------------------------------------------------------------------------------


def _spreadsheet_safe(value):
    """Cells a spreadsheet would run as a formula get a leading apostrophe (CSV injection)."""
    text = str(value)
    return "'" + text if text.startswith(SPREADSHEET_FORMULA_START) else text


class NdjsonWriter:
    """One JSON object per alert; a patient without alerts gets one object with code null."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, patient_id, line, alert):
        code, severity, rule, medications, summary = alert or (None, None, None, (), "no alerts")
        record = dict(zip(OUTPUT_FIELDS, (patient_id, line, code, severity, rule, list(medications), summary),
                          strict=True))
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")


class CsvWriter:
    """A header, then one row per alert; a patient without alerts gets one row with an empty code."""

    def __init__(self, stream):
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\r\n")
        self.writer.writerow(OUTPUT_FIELDS)

    def write(self, patient_id, line, alert):
        code, severity, rule, medications, summary = alert or ("", "", "", (), "no alerts")
        row = (patient_id, line, code, severity, rule, ";".join(medications), summary)
        self.writer.writerow([_spreadsheet_safe(cell) for cell in row])


# --- The command ----------------------------------------------------------------------------------------------


class Summary:
    """What the run found, for the operator's terminal."""

    def __init__(self):
        self.patients = 0
        self.patients_with_alerts = 0
        self.failed = 0
        self.alerts = 0
        self.by_code = collections.Counter()
        self.by_severity = collections.Counter()
        self.unrecognised = collections.Counter()
        self.unrecognised_spelling = {}
        self.unrecognised_other = 0

    def add(self, alerts, unrecognised):
        self.patients += 1
        self.patients_with_alerts += bool(alerts)
        self.alerts += len(alerts)
        for code, severity, *_ in alerts:
            self.by_code[(code, severity)] += 1
            self.by_severity[severity] += 1
        for name in unrecognised:
            key = name.casefold()
            if key in self.unrecognised or len(self.unrecognised) < MAX_DISTINCT_UNRECOGNISED:
                self.unrecognised[key] += 1
                self.unrecognised_spelling.setdefault(key, name)
            else:
                self.unrecognised_other += 1

    def render(self, seconds):
        from rules.base import SEVERITY_RANK  # noqa: PLC0415

        rate = self.patients / seconds if seconds > 0 else 0.0
        lines = [
            "",
            "Batch screening summary",
            f"  patients checked:      {self.patients}",
            f"  lines failed:          {self.failed}",
            f"  patients with alerts:  {self.patients_with_alerts}",
            f"  alerts:                {self.alerts}",
            f"  time:                  {seconds:.1f} s ({rate:.0f} patients/s)",
        ]
        if self.by_severity:
            lines.append("  alerts by severity:")
            for severity, count in sorted(self.by_severity.items(), key=lambda kv: SEVERITY_RANK.get(kv[0], 99)):
                lines.append(f"    {severity:<10} {count:>9}")
            lines.append("  alerts by code:")
            ordered = sorted(self.by_code.items(), key=lambda kv: (SEVERITY_RANK.get(kv[0][1], 99), -kv[1], kv[0]))
            for (code, severity), count in ordered:
                lines.append(f"    {code:<34} {severity:<10} {count:>9}")
        if self.unrecognised:
            total = sum(self.unrecognised.values()) + self.unrecognised_other
            lines.append(f"  unrecognised medication names ({total} occurrences, {len(self.unrecognised)} distinct;"
                         " most common first):")
            for key, count in self.unrecognised.most_common(SUMMARY_TOP):
                lines.append(f"    {count:>9}  {self.unrecognised_spelling[key]}")
            if len(self.unrecognised) > SUMMARY_TOP:
                lines.append(f"    … and {len(self.unrecognised) - SUMMARY_TOP} more distinct names")
            if self.unrecognised_other:
                lines.append(f"    {self.unrecognised_other:>9}  (further names beyond {MAX_DISTINCT_UNRECOGNISED}"
                             " distinct, not counted by name)")
        return "\n".join(lines) + "\n"


def _format_of(path, explicit, default):
    if explicit:
        return explicit
    if path and path != "-" and path.lower().endswith(".csv"):
        return "csv"
    if path and path != "-" and path.lower().endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    return default


def _date(value):
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _positive(value):
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m service.batch",
        description="Screen many patients' medication lists for low-dose naltrexone safety issues.",
        epilog="Exit status: 0 all lines checked, 1 some lines failed (reported on stderr), 2 usage error.",
    )
    parser.add_argument("input", help="NDJSON or CSV file of patients, or - for standard input")
    parser.add_argument("-o", "--output", default="-", help="where to write results (default: standard output)")
    parser.add_argument("--format", choices=("ndjson", "csv"),
                        help="output format (default: from the output file's extension, else ndjson)")
    parser.add_argument("--input-format", choices=("ndjson", "csv"),
                        help="input format (default: from the input file's extension, else ndjson)")
    parser.add_argument("--workers", type=_positive, default=os.cpu_count() or 1,
                        help="worker processes (default: every core, %(default)s here)")
    parser.add_argument("--as-of", type=_date, help="the check date for patients whose line gives none "
                        "(default: today)")
    parser.add_argument("--max-medications", type=_positive, default=DEFAULT_MAX_MEDICATIONS,
                        help="medications per patient (default: %(default)s, as the API)")
    parser.add_argument("--vocabulary", help="vocabulary JSON (default: the bundled one)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser.parse_args(argv)


def _count_lines(path):
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def run(args, stdin=None, stdout=None, stderr=None):
    """Run a batch; returns the exit status."""
    stdin = stdin or sys.stdin.buffer
    stderr = stderr or sys.stderr
    input_format = _format_of(args.input, args.input_format, "ndjson")
    output_format = _format_of(args.output, args.format, "ndjson")
    try:
        source = stdin if args.input == "-" else open(args.input, "rb")  # noqa: SIM115  (closed below)
    except OSError as error:
        stderr.write(f"error: cannot read {args.input}: {error.strerror}\n")
        return 2
    try:
        if args.output == "-":
            sink = stdout or io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=False)
            close_sink = stdout is None
        else:
            sink = open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
            close_sink = True
    except OSError as error:
        stderr.write(f"error: cannot write {args.output}: {error.strerror}\n")
        if source is not stdin:
            source.close()
        return 2
    total = None
    if args.input != "-" and os.path.isfile(args.input) and not args.no_progress:
        total = _count_lines(args.input) - (input_format == "csv")
    progress = None
    if not args.no_progress:
        from tqdm import tqdm  # noqa: PLC0415

        progress = tqdm(total=total, unit=" lines", file=stderr, dynamic_ncols=True, smoothing=0.1,
                        desc="screening", mininterval=0.5)
    summary = Summary()
    started = time.perf_counter()
    status = 0
    try:
        items = _csv_items(source) if input_format == "csv" else _ndjson_items(source)
        writer = CsvWriter(sink) if output_format == "csv" else NdjsonWriter(sink)
        offset = 1 if input_format == "csv" else 0
        done = offset
        for result in _results_in_order(items, args.workers, args.vocabulary, args.max_medications, args.as_of):
            last = result[2]
            if result[0] == "error":
                message = result[3]
                summary.failed += result[2] - result[1] + 1  # a skipped CSV patient fails all its rows
                if progress is not None:
                    progress.write(message, file=stderr)
                else:
                    stderr.write(message + "\n")
            else:
                _, first, last, patient_id, alerts, unrecognised = result
                summary.add(alerts, unrecognised)
                for alert in alerts or (None,):
                    writer.write(patient_id, first, alert)
            if progress is not None:
                progress.update(max(0, last - done))
                done = max(done, last)
                if summary.patients % 256 == 0:
                    progress.set_postfix_str(f"{summary.patients} patients", refresh=False)
    except UsageError as error:
        stderr.write(f"error: {error}\n")
        status = 2
    except BrokenPipeError:
        status = 0 if not summary.failed else 1
    finally:
        if progress is not None:
            progress.set_postfix_str(f"{summary.patients} patients", refresh=False)
            progress.close()
        if source is not stdin:
            source.close()
        try:
            if args.output != "-":
                sink.close()
            elif close_sink:
                sink.flush()
                sink.detach()  # leave sys.stdout usable
            else:
                sink.flush()
        except BrokenPipeError:
            pass
    if status == 2:
        return 2
    stderr.write(summary.render(time.perf_counter() - started))
    return 1 if summary.failed else 0


def main(argv=None):
    """Entry point of `python -m service.batch`."""
    return run(parse_args(argv))


if __name__ == "__main__":
    # Run through the imported module, so worker processes find _check_chunk as service.batch._check_chunk.
    from service.batch import main as _main  # noqa: PLC0415

    sys.exit(_main())
