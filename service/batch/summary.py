"""The end-of-run summary on stderr: counts, alerts by severity and code, unrecognized names."""

from __future__ import annotations

import collections

from rules.base import SEVERITY_RANK
from service.batch.records import LineError, PatientResult

MAX_DISTINCT_UNRECOGNIZED = 50_000  # distinct unrecognized names counted individually; the rest pooled
SUMMARY_TOP = 25  # unrecognized names listed in the summary


class Summary:
    """What the run found, for the operator's terminal."""

    def __init__(self) -> None:
        self.patients = 0
        self.patients_with_alerts = 0
        self.failed = 0
        self.alerts = 0
        self.by_code: collections.Counter[tuple[str, str]] = collections.Counter()
        self.by_severity: collections.Counter[str] = collections.Counter()
        self.unrecognized: collections.Counter[str] = collections.Counter()
        self.unrecognized_spelling: dict[str, str] = {}
        self.unrecognized_other = 0

    def add_patient(self, result: PatientResult) -> None:
        self.patients += 1
        self.patients_with_alerts += bool(result.alerts)
        self.alerts += len(result.alerts)
        for alert in result.alerts:
            self.by_code[(alert.code, alert.severity)] += 1
            self.by_severity[alert.severity] += 1
        for name in result.unrecognized:
            self._count_unrecognized(name.casefold(), name, 1)

    def _count_unrecognized(self, key: str, spelling: str, count: int) -> None:
        if key in self.unrecognized or len(self.unrecognized) < MAX_DISTINCT_UNRECOGNIZED:
            self.unrecognized[key] += count
            self.unrecognized_spelling.setdefault(key, spelling)
        else:
            self.unrecognized_other += count

    def add_failure(self, error: LineError) -> None:
        self.failed += error.lines

    def merge(self, other: Summary) -> None:
        """Add another part's counts (Spark summarises each partition, then the driver merges them)."""
        self.patients += other.patients
        self.patients_with_alerts += other.patients_with_alerts
        self.failed += other.failed
        self.alerts += other.alerts
        self.by_code.update(other.by_code)
        self.by_severity.update(other.by_severity)
        self.unrecognized_other += other.unrecognized_other
        for key, count in other.unrecognized.items():
            self._count_unrecognized(key, other.unrecognized_spelling[key], count)

    def render(self, seconds: float) -> str:
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
        if self.unrecognized:
            total = sum(self.unrecognized.values()) + self.unrecognized_other
            lines.append(
                f"  unrecognized medication names ({total} occurrences, {len(self.unrecognized)} distinct;"
                " most common first):"
            )
            for key, count in self.unrecognized.most_common(SUMMARY_TOP):
                lines.append(f"    {count:>9}  {self.unrecognized_spelling[key]}")
            if len(self.unrecognized) > SUMMARY_TOP:
                lines.append(f"    … and {len(self.unrecognized) - SUMMARY_TOP} more distinct names")
            if self.unrecognized_other:
                lines.append(
                    f"    {self.unrecognized_other:>9}  (further names beyond {MAX_DISTINCT_UNRECOGNIZED}"
                    " distinct, not counted by name)"
                )
        return "\n".join(lines) + "\n"
