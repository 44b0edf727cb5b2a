"""Screening on Apache Spark: what the executors run, and the DataFrame API for notebooks.

Every function handed to Spark is a module-level function (pickled by reference) given a small `Settings`; each
Spark Python worker builds its pipeline once (`pool.ensure_worker`) and then checks Arrow batches, so nothing is
pickled per row. Framing, checking, records and the summary are the local engine's own functions, applied to the
rows Spark hands over. Only DataFrame operations are used (mapInArrow, applyInArrow, a window), no RDDs, so the
DataFrame API has nothing that Spark Connect lacks (not tested here: the tests run a classic local[2] session).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import io
import itertools
import json
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
from pyspark.sql import types as T  # noqa: N812
from pyspark.sql.pandas.types import to_arrow_schema

from schemas.check import DEFAULT_MAX_MEDICATIONS
from service.batch.pool import check_item, ensure_worker, repeated_patient
from service.batch.readers import MAX_LINE_BYTES, UsageError, csv_columns, csv_row, csv_rows, ndjson_item, patient_of
from service.batch.records import (
    AlertRow,
    CheckOutcome,
    CsvPatient,
    CsvRow,
    InputItem,
    LineError,
    NdjsonLine,
    PatientResult,
    UnreadableLine,
)
from service.batch.summary import Summary
from service.batch.writers import OUTPUT_FIELDS, csv_cells, ndjson_record

FILE, LINE = "__ldn_file", "__ldn_line"  # where a row came from, under names no caller's column has
LINE_COLUMN = "line"  # a caller's own line numbers, if their frame has them
BATCH_ROWS = 2048  # rows per Arrow batch a framing or checking function yields
TASKS_PER_CORE = 4  # check tasks per core, so one slow partition does not hold up the job

_ALERT = T.StructType(
    [
        T.StructField("code", T.StringType()),
        T.StructField("severity", T.StringType()),
        T.StructField("rule", T.StringType()),
        T.StructField("medications", T.ArrayType(T.StringType())),
        T.StructField("summary", T.StringType()),
    ]
)
# An NDJSON line (or a request row) ready to check; `reason` instead of `raw` for a line that cannot be.
LINES = T.StructType(
    [
        T.StructField(FILE, T.StringType()),
        T.StructField(LINE, T.LongType()),
        T.StructField("raw", T.BinaryType()),
        T.StructField("reason", T.StringType()),
    ]
)
# A CSV row (or a medication row) by column; `reason` instead of the cells for a row that cannot be used. Cells are
# bytes: a CSV cell that is not valid UTF-8 must reach the check (which reports it) as the local reader passes it on.
ROWS = T.StructType(
    [
        T.StructField(FILE, T.StringType()),
        T.StructField(LINE, T.LongType()),
        T.StructField("patient_id", T.StringType()),
        T.StructField("cells", T.MapType(T.StringType(), T.BinaryType())),
        T.StructField("reason", T.StringType()),
    ]
)
# One checked patient or one failed line. `message` is the failure, or for a checked patient the message it gets
# should it repeat an earlier patient_id (known only once every line is checked).
OUTCOMES = T.StructType(
    [
        T.StructField(FILE, T.StringType()),
        T.StructField("first", T.LongType()),
        T.StructField("last", T.LongType()),
        T.StructField("rows", T.LongType()),
        T.StructField("patient_id", T.StringType()),
        T.StructField("checked", T.BooleanType()),
        T.StructField("alerts", T.ArrayType(_ALERT)),
        T.StructField("unrecognized", T.ArrayType(T.StringType())),
        T.StructField("message", T.StringType()),
    ]
)
ALERTS = T.StructType(
    [
        T.StructField("patient_id", T.StringType()),
        T.StructField("line", T.LongType()),
        T.StructField("code", T.StringType()),
        T.StructField("severity", T.StringType()),
        T.StructField("rule", T.StringType()),
        T.StructField("medications", T.ArrayType(T.StringType())),
        T.StructField("summary", T.StringType()),
    ]
)
ALERTS_CSV = T.StructType([T.StructField(name, T.StringType()) for name in OUTPUT_FIELDS])
SUMMARIES = T.StructType([T.StructField("summary", T.BinaryType())])
HEADER_PROBLEMS = T.StructType([T.StructField("file", T.StringType()), T.StructField("problem", T.StringType())])


@dataclass(frozen=True)
class Settings:
    """What every executor needs to check like the API: the local engine's worker arguments."""

    vocabulary: str | None = None
    max_medications: int = DEFAULT_MAX_MEDICATIONS
    as_of: str | None = None


def _batches(rows: Iterable[dict[str, Any]], schema: T.StructType) -> Iterator[pa.RecordBatch]:
    arrow = to_arrow_schema(schema)
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, BATCH_ROWS)):
        yield pa.RecordBatch.from_pylist(chunk, schema=arrow)


def _columns(batches: Iterable[pa.RecordBatch], *names: str) -> Iterator[tuple[Any, ...]]:
    for batch in batches:
        yield from zip(*(batch.column(name).to_pylist() for name in names), strict=True)


# ---- framing: the lines of whole files, in order, into items (runs in the task that reads the file) ---------------


def _by_file(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[str, Iterator[bytes]]]:
    """(file, its lines in order); a task reads whole files only (spark_engine.whole_files)."""
    lines = _columns(batches, FILE, "raw", "block")
    for file, group in itertools.groupby(lines, key=lambda row: row[0]):
        yield file, (_whole(raw, block) for _, raw, block in group)


def _whole(raw: bytes, block: int) -> bytes:
    if block:  # line numbers would restart mid-file: refuse rather than number lines wrongly
        raise RuntimeError("an input file was split across tasks; line numbers need whole files")
    return raw


def frame_ndjson(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """NDJSON lines into items as the local reader frames them (BOM, blank and over-long lines)."""

    def items() -> Iterator[dict[str, Any]]:
        for file, lines in _by_file(batches):
            for line_no, raw in enumerate(lines, 1):
                item = ndjson_item(line_no, raw, len(raw) > MAX_LINE_BYTES)
                if isinstance(item, NdjsonLine):
                    yield {FILE: file, LINE: line_no, "raw": item.raw, "reason": None}
                elif item is not None:
                    yield {FILE: file, LINE: line_no, "raw": None, "reason": item.reason}

    return _batches(items(), LINES)


class _JoinedLines(io.RawIOBase):
    """A file's bytes again from its lines, so the local CSV reader (and its line numbers) reads them as is."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            line = next(self._lines, None)
            if line is None:
                return 0
            self._pending = line + b"\n"
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _cell_bytes(row: CsvRow) -> dict[str, bytes]:
    return {column: text.encode("utf-8", "surrogateescape") for column, text in row.cells.items()}


def _cells(pairs: list[tuple[str, bytes]]) -> dict[str, str]:
    return {column: raw.decode("utf-8", "surrogateescape") for column, raw in pairs}


def _csv_file_rows(lines: Iterator[bytes]) -> Iterator[CsvRow | UnreadableLine]:
    return csv_rows(io.BufferedReader(_JoinedLines(lines)))


def _row_record(file: str | None, row: CsvRow | UnreadableLine) -> dict[str, Any]:
    if isinstance(row, UnreadableLine):
        return {FILE: file, LINE: row.line, "patient_id": None, "cells": None, "reason": row.reason}
    return {FILE: file, LINE: row.line, "patient_id": patient_of(row), "cells": _cell_bytes(row), "reason": None}


def frame_csv(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """CSV lines into rows keyed by patient, with the local reader's line numbers and errors."""
    rows = (_row_record(file, row) for file, lines in _by_file(batches) for row in _csv_file_rows(lines))
    return _batches(rows, ROWS)


def csv_header_problems(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(file, problem) for each file whose header the local reader would refuse."""
    problems = []
    for file, lines in _by_file(batches):
        try:
            next(_csv_file_rows(lines), None)
        except UsageError as error:
            problems.append({"file": file, "problem": str(error)})
    yield pa.RecordBatch.from_pylist(problems, schema=to_arrow_schema(HEADER_PROBLEMS))


# ---- framing: a caller's DataFrame rows into the same items -------------------------------------------------------


def _plain(value: Any) -> Any:
    """A Spark value as JSON would carry it: null fields left out, dates as ISO text, decimals as numbers."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):  # a map column's pairs
            return {key: _plain(item) for key, item in value if item is not None}
        return [_plain(item) for item in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def frame_requests(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Rows shaped like check requests (`medications`, `patient_id`, `as_of`...) into NDJSON-like items."""

    def items() -> Iterator[dict[str, Any]]:
        for batch in batches:
            for row in batch.to_pylist():
                file, line = row.pop(FILE), row.pop(LINE)
                raw = json.dumps(_plain(row), ensure_ascii=False).encode("utf-8", "surrogatepass")
                yield {FILE: file, LINE: line, "raw": raw, "reason": None}

    return _batches(items(), LINES)


def _cell_text(value: Any) -> str:
    """A typed Spark value as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return str(value)


def frame_medication_rows(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Rows with CSV columns (one medication each) into rows keyed by patient, as CSV rows are."""

    def rows() -> Iterator[dict[str, Any]]:
        for batch in batches:
            columns = [name for name in batch.schema.names if name not in (FILE, LINE)]
            for values in batch.to_pylist():
                row = csv_row(values[LINE], columns, [_cell_text(values[column]) for column in columns])
                if row is not None:
                    yield _row_record(values[FILE], row)

    return _batches(rows(), ROWS)


# ---- checking (on the executors) ----------------------------------------------------------------------------------


def _outcome_row(file: str | None, outcome: CheckOutcome) -> dict[str, Any]:
    if isinstance(outcome, LineError):
        return {
            FILE: file,
            "first": outcome.first,
            "last": outcome.last,
            "rows": outcome.rows,
            "patient_id": None,
            "checked": False,
            "alerts": [],
            "unrecognized": [],
            "message": outcome.message,
        }
    alerts = [
        {
            "code": a.code,
            "severity": a.severity,
            "rule": a.rule,
            "medications": list(a.medications),
            "summary": a.summary,
        }
        for a in outcome.alerts
    ]
    return {
        FILE: file,
        "first": outcome.first,
        "last": outcome.last,
        "rows": 0,
        "patient_id": outcome.patient_id,
        "checked": True,
        "alerts": alerts,
        "unrecognized": list(outcome.unrecognized),
        "message": repeated_patient(outcome).message,
    }


def _checked(settings: Settings, items: Iterable[tuple[str | None, InputItem]]) -> Iterator[pa.RecordBatch]:
    ensure_worker(settings.vocabulary, settings.max_medications, settings.as_of)
    return _batches((_outcome_row(file, check_item(item)) for file, item in items), OUTCOMES)


def check_lines(settings: Settings, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Check NDJSON-like items; a line that could not be framed becomes its error."""
    items = (
        (file, NdjsonLine(line, raw) if raw is not None else UnreadableLine(line, reason))
        for file, line, raw, reason in _columns(batches, FILE, LINE, "raw", "reason")
    )
    return _checked(settings, items)


def check_unusable_rows(settings: Settings, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The error of each CSV (or medication) row that could not be used."""
    items = ((file, UnreadableLine(line, reason)) for file, line, reason in _columns(batches, FILE, LINE, "reason"))
    return _checked(settings, items)


def check_patient(settings: Settings, table: pa.Table) -> pa.Table:
    """Check one patient from all its rows, wherever they were in the input (ordered by file, then line)."""
    rows = sorted(zip(*(table.column(name).to_pylist() for name in (FILE, LINE, "cells")), strict=True))
    patient_id = table.column("patient_id")[0].as_py()
    csv_rows_ = tuple(CsvRow(line, _cells(cells)) for _, line, cells in rows)
    patient = CsvPatient(patient_id, csv_rows_[0].line, csv_rows_[-1].line, csv_rows_)
    return pa.Table.from_batches(list(_checked(settings, [(rows[0][0], patient)])), schema=to_arrow_schema(OUTCOMES))


def _result(row: dict[str, Any]) -> PatientResult | LineError:
    if not row["checked"]:
        return LineError(row["first"], row["last"], row["message"], row["rows"])
    alerts = tuple(
        AlertRow(a["code"], a["severity"], a["rule"], tuple(a["medications"]), a["summary"]) for a in row["alerts"]
    )
    return PatientResult(row["first"], row["last"], row["patient_id"], alerts, tuple(row["unrecognized"]))


def alert_records(csv: bool, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The local engine's output records: one per alert, one "no alerts" record per clean patient."""

    def records() -> Iterator[dict[str, Any]]:
        for batch in batches:
            for row in batch.to_pylist():
                result = _result(row)
                if isinstance(result, LineError):
                    continue
                for alert in result.alerts or (None,):
                    if csv:
                        yield dict(zip(OUTPUT_FIELDS, csv_cells(result.patient_id, result.first, alert), strict=True))
                    else:
                        yield ndjson_record(result.patient_id, result.first, alert)

    return _batches(records(), ALERTS_CSV if csv else ALERTS)


def summarise(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One partition's Summary, pickled for the driver to merge."""
    summary = Summary()
    for batch in batches:
        for row in batch.to_pylist():
            result = _result(row)
            if isinstance(result, LineError):
                summary.add_failure(result)
            else:
                summary.add_patient(result)
    yield pa.RecordBatch.from_pylist([{"summary": pickle.dumps(summary)}], schema=to_arrow_schema(SUMMARIES))


# ---- the plan (built on the driver) -------------------------------------------------------------------------------


def _tasks(frame: DataFrame) -> int:
    spark = frame.sparkSession
    try:
        cores = spark.sparkContext.defaultParallelism
    except (AttributeError, NotImplementedError):  # Spark Connect has no SparkContext
        cores = int(spark.conf.get("spark.sql.shuffle.partitions") or 200) // TASKS_PER_CORE
    return max(1, cores) * TASKS_PER_CORE


def outcomes_of_lines(lines: DataFrame, settings: Settings) -> DataFrame:
    """Check LINES items; a later record of a patient_id already checked becomes an error, as in the local engine."""
    tasks = _tasks(lines)
    checked = lines.repartition(tasks).mapInArrow(functools.partial(check_lines, settings), OUTCOMES)
    # Partitioned by patient_id once, with the task count chosen here: the window reuses it, no second shuffle.
    checked = checked.repartition(tasks, "patient_id")
    in_input_order = Window.partitionBy("patient_id").orderBy(FILE, "first")
    repeat = F.col("checked") & (F.row_number().over(in_input_order) > 1)
    return checked.withColumn("checked", F.col("checked") & ~repeat)


def outcomes_of_rows(rows: DataFrame, settings: Settings) -> DataFrame:
    """Check ROWS grouped by patient_id (the rows of a patient need not be contiguous)."""
    usable = rows.filter(F.col("reason").isNull())
    by_patient = usable.repartition(_tasks(rows), "patient_id").groupBy("patient_id")

    def check(table: pa.Table) -> pa.Table:  # type hints, not a partial: applyInArrow picks its mode from them
        return check_patient(settings, table)

    checked = by_patient.applyInArrow(check, OUTCOMES)
    unusable = rows.filter(F.col("reason").isNotNull())
    return checked.unionByName(unusable.mapInArrow(functools.partial(check_unusable_rows, settings), OUTCOMES))


def _with_position(frame: DataFrame) -> DataFrame:
    """FILE and LINE: the caller's `line` column if it has one, else Spark's row id plus one (unique, not contiguous)."""
    if LINE_COLUMN in frame.columns:
        frame = frame.withColumn(LINE, F.col(LINE_COLUMN).cast("long")).drop(LINE_COLUMN)
    elif LINE not in frame.columns:
        frame = frame.withColumn(LINE, F.monotonically_increasing_id() + 1)
    if FILE not in frame.columns:
        frame = frame.withColumn(FILE, F.lit(None).cast("string"))
    return frame


def outcomes_of_frame(frame: DataFrame, settings: Settings) -> DataFrame:
    """Check a DataFrame of check requests (a `medications` column) or of medication rows (the CSV columns)."""
    frame = _with_position(frame)
    if "medications" in frame.columns:
        return outcomes_of_lines(frame.mapInArrow(frame_requests, LINES), settings)
    # Columns are refused (UsageError) as a CSV header with the same names would be: a misnamed column is not ignored.
    names = [name for name in frame.columns if name not in (FILE, LINE)]
    columns = csv_columns(names)
    renamed = frame.select(
        FILE, LINE, *(F.col(f"`{name}`").alias(column) for name, column in zip(names, columns, strict=True))
    )
    return outcomes_of_rows(renamed.mapInArrow(frame_medication_rows, ROWS), settings)


@dataclass
class Screening:
    """A screened DataFrame: its alerts, errors and summary, all from one persisted check."""

    outcomes: DataFrame

    def alerts(self, output_format: str = "ndjson") -> DataFrame:
        """The local engine's records; `csv` gives them as CSV cells (text, spreadsheet-safe, `;`-joined ids)."""
        csv = output_format == "csv"
        checked = self.outcomes.filter(F.col("checked"))
        return checked.mapInArrow(functools.partial(alert_records, csv), ALERTS_CSV if csv else ALERTS)

    def errors(self) -> DataFrame:
        """One record per line (or patient's rows) that could not be checked: file, line, last_line, message."""
        failed = self.outcomes.filter(~F.col("checked"))
        return failed.select(
            F.col(FILE).alias("file"), F.col("first").alias("line"), F.col("last").alias("last_line"), "message"
        )

    def summary(self) -> Summary:
        """The run's Summary, as the local engine prints it, merged from one per partition."""
        summary = Summary()
        for row in self.outcomes.mapInArrow(summarise, SUMMARIES).collect():
            summary.merge(pickle.loads(row["summary"]))  # our own executors' objects, never outside input
        return summary

    def unpersist(self) -> None:
        """Free the persisted check once its alerts, errors and summary are taken."""
        self.outcomes.unpersist()


def _settings(as_of: str | None, max_medications: int, vocabulary: str | None) -> Settings:
    # One check date for every executor: today (UTC) on the driver, unless given.
    return Settings(vocabulary, max_medications, as_of or datetime.datetime.now(datetime.UTC).date().isoformat())


def screen(
    frame: DataFrame,
    *,
    as_of: str | None = None,
    max_medications: int = DEFAULT_MAX_MEDICATIONS,
    vocabulary: str | None = None,
) -> Screening:
    """Screen a DataFrame of check requests or medication rows once (persisted) for its alerts, errors and summary."""
    return Screening(outcomes_of_frame(frame, _settings(as_of, max_medications, vocabulary)).persist())


def alerts(
    frame: DataFrame,
    *,
    as_of: str | None = None,
    max_medications: int = DEFAULT_MAX_MEDICATIONS,
    vocabulary: str | None = None,
) -> DataFrame:
    """The alerts DataFrame of a DataFrame of check requests (a `medications` column) or of medication rows."""
    # Not persisted: one pass is all the alerts need. `vocabulary` must be a path every executor can read.
    return Screening(outcomes_of_frame(frame, _settings(as_of, max_medications, vocabulary))).alerts()
