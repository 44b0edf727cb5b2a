"""`--engine spark` and the DataFrame API: the same records, errors and exit statuses as the local engine.

One SparkSession (local[2]) serves the whole file; the command runs in-process through `run()` and finds it as the
active session, so the JVM starts once.
"""

import csv
import io
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from service.batch import cli

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NDJSON = FIXTURES / "batch_patients.ndjson"
CSV = FIXTURES / "batch_patients.csv"
FAILURE = re.compile(r"^line \d+.*(skipped|patient skipped)$")


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return str(Path(home, "bin", "java"))
    return shutil.which("java")


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the file; skipped only when there is no Java to run Spark on."""
    if _java() is None:
        pytest.skip("no Java found (java on PATH or JAVA_HOME): Spark needs Java 17 or later to run")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors' Python is this test run's (and this worktree's)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("ldn-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def local(*args):
    """The local engine in-process with one worker: (status, stderr)."""
    stderr = io.StringIO()
    status = cli.run(cli.parse_args([*map(str, args), "--workers", "1", "--no-progress"]), stderr=stderr)
    return status, stderr.getvalue()


def on_spark(*args):
    """The Spark engine in-process, on the session under test: (status, stderr)."""
    stderr = io.StringIO()
    status = cli.run(cli.parse_args([*map(str, args), "--engine", "spark", "--no-progress"]), stderr=stderr)
    return status, stderr.getvalue()


def _parts(folder: Path, suffix: str) -> list[Path]:
    parts = sorted(folder.glob(f"part-*{suffix}"))
    assert parts, f"no part files in {folder}"
    return parts


def read_ndjson(path: Path) -> list[dict]:
    files = _parts(path, ".json") if path.is_dir() else [path]
    return [json.loads(line) for file in files for line in file.read_text(encoding="utf-8").splitlines()]


def read_csv(path: Path) -> list[dict]:
    files = _parts(path, ".csv") if path.is_dir() else [path]
    out = []
    for file in files:
        with file.open(encoding="utf-8", newline="") as handle:
            out.extend(csv.DictReader(handle))
    return out


def as_set(records) -> set[tuple]:
    """Records as a set of hashable rows (medications become a tuple)."""
    rows = set()
    for record in records:
        rows.add(tuple((key, tuple(v) if isinstance(v, list) else v) for key, v in sorted(record.items())))
    assert len(rows) == len(records), "a record is repeated"
    return rows


def failures(stderr: str) -> set[str]:
    """The per-line failure messages the local engine writes on stderr."""
    return {line for line in stderr.splitlines() if FAILURE.match(line)}


def summary_counts(stderr: str) -> dict[str, int]:
    return {
        key: int(value)
        for key, value in re.findall(
            r"^  (patients checked|lines failed|patients with alerts|alerts):\s+(\d+)$", stderr, re.M
        )
    }


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def bad_ndjson(tmp_path: Path) -> Path:
    good = NDJSON.read_bytes().splitlines()
    schema_error = {"patient_id": "X", "medications": [{"name": "oxycodone", "dose": {"value": "5", "unit": "mg"}}]}
    too_long = {"patient_id": "L", "as_of": "2026-11-25", "medications": [{"name": "x" * (1 << 20)}]}
    return write_lines(
        tmp_path / "bad.ndjson",
        [
            b"\xef\xbb\xbf" + good[0],  # a BOM before the first line, as spreadsheet exports write it
            b"{not json",
            json.dumps(schema_error).encode(),
            b"[1, 2]",
            b"",
            good[1],
            json.dumps(too_long).encode(),
            good[0],  # P-001 again: an error, the first one stands
            b"   ",
            good[2],
            good[3],  # no patient_id: the line number is the id
            b'{"patient_id": "U", "medications": [{"name": "\xff"}]}',  # not UTF-8
            b'{"patient_id": "Q", "medications": "none"}',
            b'{"patient_id": "Q", "as_of": "2026-11-25", "medications": [{"name": "lisinopril 10 mg tablet"}]}',
            good[4],
        ],
    )


def test_ndjson_with_bad_lines_gives_the_local_records_errors_and_summary(spark, tmp_path):
    source = bad_ndjson(tmp_path)
    status, stderr = local(source, "-o", tmp_path / "local.ndjson")
    spark_status, spark_stderr = on_spark(source, "-o", tmp_path / "spark")
    assert status == spark_status == 1
    expected = read_ndjson(tmp_path / "local.ndjson")
    assert {r["patient_id"] for r in expected} == {"P-001", "P-002", "P-003", "11", "Q", "5"}
    assert as_set(read_ndjson(tmp_path / "spark")) == as_set(expected)
    errors = read_ndjson(tmp_path / "spark" / "_errors")
    assert {e["message"] for e in errors} == failures(stderr)
    assert {(e["line"], e["last_line"]) for e in errors} == {(n, n) for n in (2, 3, 4, 7, 8, 12, 13)}
    assert all(e["file"].endswith("/bad.ndjson") for e in errors)
    assert "line 8: patient_id 'P-001' appears again (each patient once); skipped" in {e["message"] for e in errors}
    assert "line 7: line longer than 1048576 bytes; skipped" in {e["message"] for e in errors}
    assert summary_counts(spark_stderr) == summary_counts(stderr)
    assert summary_counts(stderr)["lines failed"] == 7
    assert failures(spark_stderr) == failures(stderr)  # fewer than 20 failures: every one is echoed


CSV_HEADER = "patient_id,id,name,dose_value,dose_unit,frequency,status,as_of"
CSV_ROWS = [
    "A,ldn,naltrexone 4.5 mg capsule,,,QHS,,2026-11-25",
    "B,,lisinopril 10 mg tablet,,,,,2026-11-25",
    "A,oxy,oxycodone 5 mg tablet,,,,proposed,",
    "C,,naltrexone 4.5 mg capsule,ten,mg,,,2026-11-25",  # C: a bad cell fails the patient, all its rows
    ",,orphan row,,,,,2026-11-25",  # empty patient_id
    "B,,metformin 500 mg tablet,,,,,",
    "D,,lisinopril,,,,,2026-11-25,extra",  # wrong column count
    "C,,metformin 500 mg tablet,,,,,",
    "E,,naltrexone 4.5 mg capsule,,,QHS,bogus,2026-11-25",  # schema error
    "A,,zorblatine 5 mg,,,,,",
]


def test_csv_rows_of_a_patient_need_not_be_contiguous(spark, tmp_path):
    """Spark groups rows by patient_id; the local engine, on the same rows sorted by patient, says the same."""
    scattered = tmp_path / "scattered.csv"
    scattered.write_text("\n".join([CSV_HEADER, *CSV_ROWS]) + "\n")
    status, stderr = on_spark(scattered, "-o", tmp_path / "spark", "--format", "csv")
    assert status == 1, stderr
    got = read_csv(tmp_path / "spark")
    # Sorted by patient (stable), with each row's line number in the scattered file kept beside it.
    order = sorted(range(len(CSV_ROWS)), key=lambda k: CSV_ROWS[k].split(",", 1)[0])
    contiguous = tmp_path / "contiguous.csv"
    contiguous.write_text("\n".join([CSV_HEADER, *(CSV_ROWS[k] for k in order)]) + "\n")
    line_in_scattered = {position + 2: k + 2 for position, k in enumerate(order)}
    local_status, local_stderr = local(contiguous, "-o", tmp_path / "local.csv")
    assert local_status == 1
    expected = [{**r, "line": str(line_in_scattered[int(r["line"])])} for r in read_csv(tmp_path / "local.csv")]
    assert {r["patient_id"] for r in expected} == {"A", "B"}
    assert as_set(got) == as_set(expected)
    assert [r["line"] for r in got if r["patient_id"] == "A"] == ["2"] * len([r for r in got if r["patient_id"] == "A"])
    errors = {(int(e["line"]), e["message"]) for e in read_csv(tmp_path / "spark" / "_errors")}
    assert {line for line, _ in errors} == {5, 6, 8, 10}
    messages = dict(errors)
    assert messages[5].startswith("line 5 (patient 'C', lines 5-9): dose_value: 'ten' is not a number")
    assert messages[6] == "line 6: empty patient_id; skipped"
    assert messages[8] == "line 8: expected 8 columns, got 9; skipped"
    assert messages[10].startswith("line 10: medications[0].status: Must be one of")
    assert summary_counts(stderr)["lines failed"] == summary_counts(local_stderr)["lines failed"] == 5


def test_csv_in_the_local_order_gives_the_local_records_and_errors(spark, tmp_path):
    source = tmp_path / "in.csv"
    lines = CSV.read_bytes().splitlines()
    lines.insert(3, lines[1].replace(b"P-001", b"P-009").replace(b"naltrexone", b"\xffnaltrexone"))
    lines.append(b",x,lisinopril,,,,,,,,,,,,,,,,,,,")
    lines.append(b"P-010,x,lisinopril")
    write_lines(source, lines)
    status, stderr = local(source, "-o", tmp_path / "local.csv")
    spark_status, spark_stderr = on_spark(source, "-o", tmp_path / "spark", "--format", "csv")
    assert status == spark_status == 1
    assert as_set(read_csv(tmp_path / "spark")) == as_set(read_csv(tmp_path / "local.csv"))
    errors = read_csv(tmp_path / "spark" / "_errors")
    assert {e["message"] for e in errors} == failures(stderr)
    assert "line 4: name: not valid UTF-8; skipped" in failures(stderr)
    assert summary_counts(spark_stderr) == summary_counts(stderr)


def test_parquet_out_and_parquet_in(spark, tmp_path):
    import pyarrow.parquet as pq

    status, stderr = local(NDJSON, "-o", tmp_path / "local.ndjson")
    assert status == 0, stderr
    expected = as_set(read_ndjson(tmp_path / "local.ndjson"))
    assert on_spark(NDJSON, "-o", tmp_path / "out.parquet")[0] == 0
    assert as_set(pq.read_table(tmp_path / "out.parquet").to_pylist()) == expected
    # The same requests as a Parquet table (one file, rows in line order): row i is line i.
    requests = spark.read.json(str(NDJSON)).coalesce(1)
    requests.write.parquet(str(tmp_path / "requests.parquet"))
    status, stderr = on_spark(tmp_path / "requests.parquet", "-o", tmp_path / "again", "--format", "ndjson")
    assert status == 0, stderr
    assert as_set(read_ndjson(tmp_path / "again")) == expected


def test_medication_rows_in_parquet(spark, tmp_path):
    status, _ = local(CSV, "-o", tmp_path / "local.ndjson")
    assert status == 0
    rows = spark.read.option("header", "true").csv(str(CSV)).coalesce(1)
    rows.write.parquet(str(tmp_path / "rows.parquet"))
    status, stderr = on_spark(tmp_path / "rows.parquet", "-o", tmp_path / "spark.ndjson")
    assert status == 0, stderr
    # Parquet line numbers are row numbers: the header is not a row, so each is one less than the CSV's.
    expected = [{**r, "line": r["line"] - 1} for r in read_ndjson(tmp_path / "local.ndjson")]
    assert as_set(read_ndjson(tmp_path / "spark.ndjson")) == as_set(expected)


def test_a_bad_csv_header_is_a_usage_error_and_nothing_is_written(spark, tmp_path):
    source = tmp_path / "odd.csv"
    source.write_text("patient_id,name,colour\n1,oxycodone,blue\n")
    status, stderr = on_spark(source, "-o", tmp_path / "out")
    assert status == 2
    assert "unknown CSV column(s) 'colour'" in stderr and "patient_id" in stderr
    assert not (tmp_path / "out").exists()
    assert local(source, "-o", tmp_path / "local.ndjson")[0] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("/nonexistent/patients.ndjson", "-o", "{tmp}/out"), "could not run"),
        (("-", "-o", "{tmp}/out"), "give INPUT and -o OUTPUT"),
        ((str(NDJSON),), "give INPUT and -o OUTPUT"),
        ((str(NDJSON), "-o", "{tmp}/out", "--workers", "3"), "a Spark session is already running"),
        ((str(NDJSON), "-o", "{tmp}/taken.txt"), "exists and is not an earlier output"),
    ],
)
def test_usage_errors_exit_2(spark, tmp_path, args, message):
    (tmp_path / "taken.txt").write_text("someone's file\n")
    status, stderr = on_spark(*(arg.format(tmp=tmp_path) for arg in args))
    assert status == 2 and message in stderr
    assert (tmp_path / "taken.txt").read_text() == "someone's file\n"


def test_clean_input_exits_0_and_an_earlier_output_is_replaced(spark, tmp_path):
    assert on_spark(NDJSON, "-o", tmp_path / "out")[0] == 0
    status, stderr = on_spark(NDJSON, "-o", tmp_path / "out", "--max-medications", "2")
    assert status == 1
    local_status, local_stderr = local(NDJSON, "-o", tmp_path / "local.ndjson", "--max-medications", "2")
    assert local_status == 1
    assert as_set(read_ndjson(tmp_path / "out")) == as_set(read_ndjson(tmp_path / "local.ndjson"))
    assert {e["message"] for e in read_ndjson(tmp_path / "out" / "_errors")} == failures(local_stderr)
    assert "line 5: medications: " in "\n".join(failures(local_stderr))


CLAIMS = (
    "patient_id,id,name,dispensed_on,days_supply,status\n"
    "MRN-7,c1,tramadol 50 mg tablet,2026-10-01,30,\n"
    "MRN-7,c2,tramadol 50 mg tablet,2026-11-10,10,\n"
    "MRN-7,ldn,naltrexone 1.5 mg capsule (compounded),,,proposed\n"
)


@pytest.mark.parametrize(("as_of", "severity"), [("2026-11-25", "critical"), ("2026-12-20", None)])
def test_as_of_and_input_format_mean_the_same(spark, tmp_path, as_of, severity):
    source = tmp_path / "claims.txt"  # no extension: the format is the option's
    source.write_text(CLAIMS)
    options = ("--input-format", "csv", "--as-of", as_of)
    assert local(source, "-o", tmp_path / "local.ndjson", *options)[0] == 0
    assert on_spark(source, "-o", tmp_path / "spark", "--format", "ndjson", *options)[0] == 0
    (record,) = read_ndjson(tmp_path / "spark")
    assert read_ndjson(tmp_path / "local.ndjson") == [record]
    assert record["severity"] == severity
    assert record["code"] == ("opioid-free-interval" if severity else None)


def test_dataframe_of_requests_gives_the_local_records(spark, tmp_path):
    from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)

    from service.batch.spark import alerts

    assert local(NDJSON, "-o", tmp_path / "local.ndjson")[0] == 0
    # A `line` column numbers the rows (else Spark's row ids do); the request without patient_id takes it as its id.
    requests = spark.read.json(str(NDJSON)).withColumn("line", F.monotonically_increasing_id() + 1)
    assert requests.select("line").collect() == [(n,) for n in range(1, 6)]  # one small file: one partition
    found = alerts(requests)
    assert found.columns == ["patient_id", "line", "code", "severity", "rule", "medications", "summary"]
    assert as_set([row.asDict() for row in found.collect()]) == as_set(read_ndjson(tmp_path / "local.ndjson"))


def test_dataframe_of_typed_medication_rows_with_errors(spark):
    """Dates, numbers and booleans in typed columns mean what their text means in a CSV cell."""
    import datetime

    from service.batch.spark import screen

    day = datetime.date
    rows = spark.createDataFrame(
        [
            ("MRN-7", "c1", "tramadol 50 mg tablet", day(2026, 10, 1), 30, None, None, 11),
            ("MRN-9", None, "oxycodone 5 mg tablet", None, None, True, None, 12),
            ("MRN-7", "c2", "tramadol 50 mg tablet", day(2026, 11, 10), 10, None, None, 13),
            ("", None, "lisinopril 10 mg tablet", None, None, None, None, 14),
            ("MRN-7", "ldn", "naltrexone 1.5 mg capsule (compounded)", None, None, None, "proposed", 15),
            ("MRN-9", None, "naltrexone 4.5 mg capsule", None, 7, None, None, 16),
        ],
        "patient_id string, id string, name string, dispensed_on date, days_supply int, as_needed boolean,"
        " status string, line long",
    )
    screening = screen(rows, as_of="2026-11-25")
    try:
        found = {(r["patient_id"], r["line"], r["code"], r["severity"]) for r in screening.alerts().collect()}
        assert found == {("MRN-7", 11, "opioid-free-interval", "critical")}
        errors = {(r["line"], r["last_line"], r["message"]) for r in screening.errors().collect()}
        assert errors == {
            (14, 14, "line 14: empty patient_id; skipped"),
            (
                12,
                16,
                "line 16 (patient 'MRN-9', lines 12-16): medications[1].days_supply: Needs dispensed_on: a supply"
                " covers days from the day it was dispensed.; patient skipped",
            ),
        }
        summary = screening.summary()
        assert (summary.patients, summary.failed, summary.alerts) == (1, 3, 1)
    finally:
        screening.unpersist()


def test_a_misnamed_column_is_refused_not_ignored(spark):
    from service.batch.readers import UsageError
    from service.batch.spark import alerts

    rows = spark.createDataFrame(
        [("P1", "lisinopril 10 mg tablet", "blue")], "patient_id string, name string, colour string"
    )
    with pytest.raises(UsageError, match="unknown CSV column"):
        alerts(rows)


def test_the_readme_example_runs(spark, capsys):
    """The DataFrame example in the README is executed as written, from the repository root."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### The DataFrame API (notebooks)", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('"tests/fixtures/', f'"{ROOT}/tests/fixtures/')  # Spark resolves paths from its own start
    namespace = {"spark": spark}
    exec(compile(code, "README.md", "exec"), namespace)
    shown = capsys.readouterr().out
    assert "opioid-use" in shown and "opioid-dependence" in shown  # the high and critical alerts
    assert "4 patients, 3 alerts:" in shown
    high = {(r["patient_id"], r["code"]) for r in namespace["found"].filter("severity = 'high'").collect()}
    assert high == {("P-001", "opioid-use")}
