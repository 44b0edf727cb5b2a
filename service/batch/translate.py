"""Turning one NDJSON line or one patient's CSV rows into the native check request body."""

from __future__ import annotations

from typing import Any

from rules.knowledge.systems import canonical_system
from rules.knowledge.text import has_control_characters
from schemas.check import MAX_ID, NDC, RXNORM
from service.batch.records import CsvPatient, CsvRow
from service.requests import JSONTextError, decode_json

CODE_SYSTEMS = {"rxnorm": RXNORM, "ndc": NDC}
TRUE_WORDS = {"true", "yes", "y", "1"}
FALSE_WORDS = {"false", "no", "n", "0"}
CSV_TEXT_COLUMNS = (
    "id",
    "name",
    "form",
    "frequency",
    "timing",
    "instructions",
    "status",
    "start_date",
    "end_date",
    "dispensed_on",
)


class InvalidLine(Exception):
    """One patient's line or rows cannot become a request; `line` is the CSV row at fault, if known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.line = line


def _patient_id(value: Any, line_no: int) -> str:
    if value is None:
        return str(line_no)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidLine("patient_id: must be a string or an integer")
    text = str(value).strip()
    if not text or len(text) > MAX_ID or has_control_characters(text):
        raise InvalidLine(f"patient_id: must be 1-{MAX_ID} characters without control characters")
    return text


def from_ndjson(raw: bytes, line_no: int) -> tuple[str, dict[str, Any]]:
    """(patient id, request body) from one NDJSON line; the id defaults to the line number."""
    try:
        body = decode_json(raw)
    except JSONTextError as error:
        raise InvalidLine(str(error)) from error
    if not isinstance(body, dict):
        raise InvalidLine("each line must be a JSON object (one check request)")
    return _patient_id(body.pop("patient_id", None), line_no), body


def _cell(row: CsvRow, column: str) -> str | None:
    value = row.cells.get(column)
    if value is None:
        return None
    # The reader decodes with surrogateescape so one bad byte fails its patient, not the whole file.
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        raise InvalidLine(f"{column}: not valid UTF-8")
    value = value.strip()
    return value or None


def _number(row: CsvRow, column: str) -> float | None:
    value = _cell(row, column)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidLine(f"{column}: {value[:40]!r} is not a number", row.line) from None


def _boolean(row: CsvRow, column: str) -> bool | None:
    value = _cell(row, column)
    if value is None:
        return None
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise InvalidLine(f"{column}: must be true or false (or yes/no, 1/0)", row.line)


def _quantity(row: CsvRow, prefix: str) -> dict[str, Any] | None:
    value, unit = _number(row, f"{prefix}_value"), _cell(row, f"{prefix}_unit")
    if value is None and unit is None:
        return None
    if value is None or unit is None:
        raise InvalidLine(f"{prefix}_value and {prefix}_unit go together", row.line)
    return {"value": value, "unit": unit}


def _medication(row: CsvRow) -> dict[str, Any]:
    med: dict[str, Any] = {}
    for column in CSV_TEXT_COLUMNS:
        value = _cell(row, column)
        if value is not None:
            med[column] = value
    system, code = _cell(row, "code_system"), _cell(row, "code")
    if code is not None:
        if system is None:
            raise InvalidLine("code needs code_system (rxnorm, ndc or a system URI)", row.line)
        med["codes"] = [{"system": canonical_system(CODE_SYSTEMS.get(system.lower(), system)), "code": code}]
    elif system is not None:
        raise InvalidLine("code_system without code", row.line)
    for prefix in ("dose", "strength"):
        quantity = _quantity(row, prefix)
        if quantity is not None:
            med[prefix] = quantity
    for column in ("as_needed", "compounded"):
        flag = _boolean(row, column)
        if flag is not None:
            med[column] = flag
    days = _number(row, "days_supply")
    if days is not None:
        if days != int(days):
            raise InvalidLine("days_supply: must be a whole number of days", row.line)
        med["days_supply"] = int(days)  # the schema checks the range and that dispensed_on is given
    return med


def from_csv(patient: CsvPatient) -> tuple[dict[str, Any], list[int]]:
    """The request body of one patient's CSV rows, and the line of each of its medications."""
    medications: list[dict[str, Any]] = []
    lines: list[int] = []
    facts_so_far: dict[str, Any] = {}
    as_of = None
    for row in patient.rows:
        med = _medication(row)
        facts = {
            "as_of": _cell(row, "as_of"),
            "last_opioid_use": _cell(row, "last_opioid_use"),
            "opioid_dependence": _boolean(row, "opioid_dependence"),
            "conditions": _cell(row, "conditions"),
        }
        # Patient facts may sit on any row; two rows that disagree are refused rather than one silently winning.
        for key, value in facts.items():
            if value is None:
                continue
            known = as_of if key == "as_of" else facts_so_far.get(key)
            if known is not None and known != value:
                raise InvalidLine(f"{key} differs between rows of one patient", row.line)
            if key == "as_of":
                as_of = value
            else:
                facts_so_far[key] = value
        if med:
            medications.append(med)
            lines.append(row.line)
    body: dict[str, Any] = {"medications": medications}
    if as_of:
        body["as_of"] = as_of
    if "conditions" in facts_so_far:
        names = [n.strip() for n in facts_so_far.pop("conditions").split(";") if n.strip()]
        facts_so_far["conditions"] = [{"name": name} for name in names]
    if facts_so_far:
        body["patient"] = facts_so_far
    return body, lines
