"""Input framing: NDJSON lines and CSV rows grouped per patient, and telling the formats apart."""

from __future__ import annotations

import csv
import hashlib
import io
from array import array
from collections.abc import Iterator
from typing import Any, BinaryIO

from service.batch.records import CsvPatient, CsvRow, InputItem, NdjsonLine, UnreadableLine

MAX_LINE_BYTES = 1024 * 1024  # the API's default body limit: one NDJSON line is one request body
UTF8_BOM = b"\xef\xbb\xbf"

CSV_MEDICATION_COLUMNS = (
    "id",
    "name",
    "code_system",
    "code",
    "dose_value",
    "dose_unit",
    "strength_value",
    "strength_unit",
    "form",
    "frequency",
    "timing",
    "as_needed",
    "compounded",
    "instructions",
    "status",
    "start_date",
    "end_date",
    "dispensed_on",
    "days_supply",
)
CSV_PATIENT_COLUMNS = ("as_of", "opioid_dependence", "last_opioid_use", "conditions")
CSV_COLUMNS = ("patient_id", *CSV_MEDICATION_COLUMNS, *CSV_PATIENT_COLUMNS)


class UsageError(Exception):
    """A problem with the arguments or the input as a whole (exit status 2)."""


def format_of(path: str | None, explicit: str | None, default: str) -> str:
    """The format named on the command line, else the one the file's extension says, else `default`."""
    if explicit:
        return explicit
    name = (path or "-").lower().rstrip("/")
    for extensions, found in ((".csv",), "csv"), ((".ndjson", ".jsonl", ".json"), "ndjson"), ((".parquet",), "parquet"):
        if name != "-" and name.endswith(extensions):
            return found
    return default


def ndjson_item(line_no: int, raw: bytes, too_long: bool = False) -> NdjsonLine | UnreadableLine | None:
    """The item of one NDJSON line (None for a blank one): the framing rule both engines share."""
    if too_long:
        return UnreadableLine(line_no, f"line longer than {MAX_LINE_BYTES} bytes")
    if line_no == 1 and raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]
    return NdjsonLine(line_no, raw) if raw.strip() else None


def ndjson_items(stream: BinaryIO) -> Iterator[NdjsonLine | UnreadableLine]:
    """One item per non-blank NDJSON line; an over-long line becomes an unreadable one."""
    line_no = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        line_no += 1
        too_long = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
        if too_long:
            while True:  # skip the rest of the over-long line without holding it
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
        item = ndjson_item(line_no, raw, too_long)
        if item is not None:
            yield item


class SeenIds:
    """Patient ids already finished, as 64-bit digests in an open-addressing table (16-32 bytes a patient)."""

    def __init__(self) -> None:
        self._table = array("Q", bytes(8 * 1024))
        self._count = 0

    @staticmethod
    def _key(patient_id: str) -> int:
        digest = hashlib.blake2b(patient_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "little") or 1  # 0 marks an empty slot

    @staticmethod
    def _slot(table: array, key: int) -> int:
        mask = len(table) - 1
        slot = key & mask
        while table[slot] and table[slot] != key:
            slot = (slot + 1) & mask
        return slot

    def __contains__(self, patient_id: str) -> bool:
        key = self._key(patient_id)
        return self._table[self._slot(self._table, key)] == key

    def add(self, patient_id: str) -> None:
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


def csv_columns(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        raise UsageError(
            f"unknown CSV column(s) {', '.join(map(repr, unknown))}; the columns are: {', '.join(CSV_COLUMNS)}"
        )
    if "patient_id" not in columns:
        raise UsageError("the CSV has no patient_id column")
    if len(set(columns)) != len(columns):
        raise UsageError("the CSV header repeats a column")
    return columns


def csv_rows(stream: BinaryIO) -> Iterator[CsvRow | UnreadableLine]:
    """The usable data rows of a CSV file and the rows that cannot be used; a bad header is a UsageError."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from _csv_rows(csv.reader(text))
    finally:
        # The caller owns the stream: the wrapper, dropped, would close it behind the caller's back (and warn).
        if not stream.closed:
            text.detach()


def _csv_rows(reader: Any) -> Iterator[CsvRow | UnreadableLine]:
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise UsageError(f"line 1: the CSV header cannot be read: {error}") from error
    columns = csv_columns(header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield UnreadableLine(reader.line_num, f"unreadable CSV row: {error}")
            continue
        item = csv_row(reader.line_num, columns, row)
        if item is not None:
            yield item


def csv_row(line_no: int, columns: list[str], row: list[str]) -> CsvRow | UnreadableLine | None:
    """The item of one CSV data row (None for a blank one): the rule both engines share."""
    if not any(cell.strip() for cell in row):
        return None
    if len(row) != len(columns):
        return UnreadableLine(line_no, f"expected {len(columns)} columns, got {len(row)}")
    cells = dict(zip(columns, row, strict=True))
    if not cells["patient_id"].strip():
        return UnreadableLine(line_no, "empty patient_id")
    return CsvRow(line_no, cells)


def patient_of(row: CsvRow) -> str:
    """The patient a CSV row belongs to."""
    return row.cells["patient_id"].strip()


def csv_items(stream: BinaryIO) -> Iterator[CsvPatient | UnreadableLine]:
    """One item per patient (contiguous rows with the same patient_id), or per row that cannot be used."""
    seen = SeenIds()
    current: str | None = None
    rows: list[CsvRow] = []
    first = 0
    failed_ids = set()  # ids of groups already reported as repeats (only ever the bad ones)
    for row in csv_rows(stream):
        if isinstance(row, UnreadableLine):
            yield row
            continue
        patient_id = patient_of(row)
        if patient_id != current:
            if current is not None:
                seen.add(current)
                if rows:
                    yield CsvPatient(current, first, rows[-1].line, tuple(rows))
            current, rows, first = patient_id, [], row.line
            if patient_id in seen or patient_id in failed_ids:
                failed_ids.add(patient_id)
        if patient_id in failed_ids:
            yield UnreadableLine(
                row.line,
                f"patient_id {patient_id!r} reappears after other patients (rows of one patient must be contiguous)",
            )
            continue
        rows.append(row)
    if current is not None and rows:
        yield CsvPatient(current, first, rows[-1].line, tuple(rows))


def read_items(stream: BinaryIO, input_format: str) -> Iterator[InputItem]:
    """The items of `stream` in input order, framed as `input_format` ("csv" or "ndjson") says."""
    return csv_items(stream) if input_format == "csv" else ndjson_items(stream)
