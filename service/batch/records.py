"""The typed records a batch run passes from reading to checking to writing and the summary."""

from __future__ import annotations

from dataclasses import dataclass

# Frozen and slotted: items and results cross process boundaries in every chunk, so they stay small to pickle.


@dataclass(frozen=True, slots=True)
class NdjsonLine:
    """One non-blank NDJSON line, still undecoded: the worker decodes it."""

    line: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One CSV data row: its line number and its cells by (lower-cased) column name."""

    line: int
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class CsvPatient:
    """The contiguous CSV rows of one patient."""

    patient_id: str
    first: int
    last: int
    rows: tuple[CsvRow, ...]


@dataclass(frozen=True, slots=True)
class UnreadableLine:
    """A line the reader could not frame (over-long, unreadable CSV, wrong column count...): reported, not checked."""

    line: int
    reason: str


InputItem = NdjsonLine | CsvPatient | UnreadableLine


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert of one patient, as the writers and the summary need it."""

    code: str
    severity: str
    rule: str
    medications: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class PatientResult:
    """A checked patient: where it sits in the input, its alerts and the medication names nothing recognized."""

    first: int
    last: int
    patient_id: str
    alerts: tuple[AlertRow, ...]
    unrecognized: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineError:
    """A line, or one patient's rows, that failed: the message for stderr names the line(s) and the reason."""

    first: int
    last: int
    message: str
    rows: int = 0  # a skipped CSV patient's row count; 0 for one line

    @property
    def lines(self) -> int:
        # A skipped CSV patient fails every one of its rows, not just the one at fault (and not the lines between).
        return self.rows or self.last - self.first + 1


CheckOutcome = PatientResult | LineError
