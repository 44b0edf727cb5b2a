"""Output writers: one NDJSON object or one CSV row per alert, and one for a patient without alerts."""

from __future__ import annotations

import csv
import json
from typing import Protocol, TextIO

from service.batch.records import AlertRow

OUTPUT_FIELDS = ("patient_id", "line", "code", "severity", "rule", "medications", "summary")
SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NO_ALERTS = "no alerts"


class Writer(Protocol):
    def write(self, patient_id: str, line: int, alert: AlertRow | None) -> None:
        """One output record; `alert` None for a patient without alerts."""


def _spreadsheet_safe(value: object) -> str:
    """Cells a spreadsheet would run as a formula get a leading apostrophe (CSV injection)."""
    text = str(value)
    return "'" + text if text.startswith(SPREADSHEET_FORMULA_START) else text


def ndjson_record(patient_id: str, line: int, alert: AlertRow | None) -> dict[str, object]:
    """One NDJSON output record; a patient without alerts gets code null and summary "no alerts"."""
    values: tuple[str, int, str | None, str | None, str | None, list[str], str]
    if alert is None:
        values = (patient_id, line, None, None, None, [], NO_ALERTS)
    else:
        values = (patient_id, line, alert.code, alert.severity, alert.rule, list(alert.medications), alert.summary)
    return dict(zip(OUTPUT_FIELDS, values, strict=True))


def csv_cells(patient_id: str, line: int, alert: AlertRow | None) -> list[str]:
    """One CSV output row, every cell spreadsheet-safe; a patient without alerts gets an empty code."""
    if alert is None:
        row: tuple[object, ...] = (patient_id, line, "", "", "", "", NO_ALERTS)
    else:
        row = (patient_id, line, alert.code, alert.severity, alert.rule, ";".join(alert.medications), alert.summary)
    return [_spreadsheet_safe(cell) for cell in row]


class NdjsonWriter:
    """One JSON object per alert; a patient without alerts gets one object with code null."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, patient_id: str, line: int, alert: AlertRow | None) -> None:
        self.stream.write(json.dumps(ndjson_record(patient_id, line, alert), ensure_ascii=False) + "\n")


class CsvWriter:
    """A header, then one row per alert; a patient without alerts gets one row with an empty code."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\r\n")
        self.writer.writerow(OUTPUT_FIELDS)

    def write(self, patient_id: str, line: int, alert: AlertRow | None) -> None:
        self.writer.writerow(csv_cells(patient_id, line, alert))


def writer_for(stream: TextIO, output_format: str) -> Writer:
    """The writer of `output_format` ("csv" or "ndjson"); the CSV one writes its header at once."""
    return CsvWriter(stream) if output_format == "csv" else NdjsonWriter(stream)
