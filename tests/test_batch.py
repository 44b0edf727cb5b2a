"""`python -m service.batch`: NDJSON and CSV in and out, malformed lines, order, summary, stdin, exit status."""

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NDJSON = FIXTURES / "batch_patients.ndjson"
CSV = FIXTURES / "batch_patients.csv"


def batch(*args, stdin=None):
    """Run the command; returns (exit status, stdout, stderr)."""
    out = subprocess.run(
        [sys.executable, "-m", "service.batch", *map(str, args), "--no-progress"],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return out.returncode, out.stdout, out.stderr


def records(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def rows(stdout):
    return list(csv.DictReader(io.StringIO(stdout)))


def test_ndjson_alerts_are_the_apis_alerts(client):
    status, stdout, stderr = batch(NDJSON, "--workers", "1")
    assert status == 0, stderr
    got = {}
    for record in records(stdout):
        if record["code"] is not None:
            got.setdefault(record["patient_id"], []).append(
                (record["code"], record["severity"], record["rule"], record["medications"], record["summary"])
            )
    expected = {}
    for number, line in enumerate(NDJSON.read_text().splitlines(), start=1):
        body = json.loads(line)
        patient_id = str(body.pop("patient_id", number))
        response = client.post("/v1/check", json=body)
        assert response.status_code == 200
        for alert in response.get_json()["alerts"]:
            expected.setdefault(patient_id, []).append(
                (alert["code"], alert["severity"], alert["rule"], alert["medications"], alert["summary"])
            )
    assert got == expected
    assert {"opioid-use", "tablet-splitting", "opioid-dependence", "partially-recognized-medication"} <= {
        alert[0] for alerts in got.values() for alert in alerts
    }


def test_ndjson_patient_without_alerts_gets_one_empty_record_and_ids_default_to_line_numbers():
    status, stdout, _ = batch(NDJSON, "--workers", "1")
    assert status == 0
    out = records(stdout)
    assert [r for r in out if r["patient_id"] == "P-002"] == [
        {
            "patient_id": "P-002",
            "line": 2,
            "code": None,
            "severity": None,
            "rule": None,
            "medications": [],
            "summary": "no alerts",
        }
    ]
    assert {r["patient_id"] for r in out} == {"P-001", "P-002", "P-003", "4", "5"}


def test_csv_in_csv_out():
    status, stdout, stderr = batch(CSV, "--format", "csv", "--workers", "1")
    assert status == 0, stderr
    assert stdout.splitlines()[0] == "patient_id,line,code,severity,rule,medications,summary"
    out = rows(stdout)
    opioid = [r for r in out if r["code"] == "opioid-use"]
    assert len(opioid) == 1 and opioid[0]["patient_id"] == "P-001" and opioid[0]["medications"] == "ldn;oxy"
    assert opioid[0]["severity"] == "high" and opioid[0]["line"] == "2"
    assert [r for r in out if r["patient_id"] == "P-002"] == [
        {
            "patient_id": "P-002",
            "line": "4",
            "code": "",
            "severity": "",
            "rule": "",
            "medications": "",
            "summary": "no alerts",
        }
    ]
    assert any(r["patient_id"] == "P-004" and r["code"] == "opioid-dependence" for r in out)
    # P-003's unknown line sits beside naltrexone: a visible partial-recognition alert, not an info line.
    assert [r["patient_id"] for r in out if r["code"] == "partially-recognized-medication"] == ["P-003"]


def test_csv_rows_become_the_same_request_as_json(client):
    """P-001 of the CSV is P-001 of the NDJSON: the same alerts come out."""
    _, from_csv, _ = batch(CSV, "--workers", "1")
    _, from_ndjson, _ = batch(NDJSON, "--workers", "1")
    pick = lambda out: [(r["code"], r["medications"], r["summary"]) for r in records(out) if r["patient_id"] == "P-001"]  # noqa: E731
    assert pick(from_csv) == pick(from_ndjson) != []


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(tmp_path):
    lines = NDJSON.read_text().splitlines()
    bad = [
        lines[0],
        "{not json",
        json.dumps({"patient_id": "X", "medications": [{"name": "oxycodone", "dose": {"value": "5", "unit": "mg"}}]}),
        "[1, 2]",
        json.dumps({"patient_id": "Y", "medications": [], "colour": "blue"}),
        lines[1],
    ]
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(bad) + "\n")
    status, stdout, stderr = batch(path, "--workers", "1")
    assert status == 1
    assert "line 2: not valid JSON" in stderr
    assert "line 3: medications[0].dose.value: Must be a number.; skipped" in stderr
    assert "line 4: each line must be a JSON object" in stderr
    assert "line 5: colour: Unknown field." in stderr
    assert [r["patient_id"] for r in records(stdout)] == ["P-001", "P-002"]
    assert "lines failed:          4" in stderr


def test_csv_errors_name_the_row_and_a_reappearing_patient_is_refused(tmp_path):
    text = CSV.read_text().splitlines()
    header = text[0]
    body = [
        "A,,naltrexone 4.5 mg capsule,,,,,,,,QHS,,,,,,,,2026-11-25,,,",
        "A,,oxycodone 5 mg tablet,,,ten,mg,,,,,,,,,,,,2026-11-25,,,",
        "B,,oxycodone 5 mg tablet,,,,,,,,,,maybe,,,,,,2026-11-25,,,",
        "C,,lisinopril,,,,,,,,,,,,,,,,2026-11-25,,,",
        "B,,naltrexone 4.5 mg capsule,,,,,,,,,,,,,,,,2026-11-25,,,",
        "D,,lisinopril,,,,,,,,,,,,,bogus,,,2026-11-25,,,",
        "E,,lisinopril,,,,,,,,,,,,,,,,2026-11-25,,",
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *body]) + "\n")
    status, stdout, stderr = batch(path, "--format", "csv", "--workers", "1")
    assert status == 1
    assert "line 3 (patient 'A', lines 2-3): dose_value: 'ten' is not a number; patient skipped" in stderr
    assert "line 4: as_needed: must be true or false" in stderr
    assert "line 6: patient_id 'B' reappears after other patients" in stderr
    assert "line 7: medications[0].status: Must be one of" in stderr
    assert "line 8: expected 22 columns, got 21" in stderr
    assert [r["patient_id"] for r in rows(stdout)] == ["C"]


def test_order_is_preserved_with_two_workers(tmp_path):
    names = ["naltrexone 4.5 mg capsule", "oxycodone 5 mg tablet", "lisinopril 10 mg tablet", "qwertyzol 5 mg"]
    path = tmp_path / "many.ndjson"
    with path.open("w") as handle:
        for number in range(700):
            meds = [{"name": names[(number + k) % len(names)]} for k in range(1 + number % 3)]
            handle.write(
                json.dumps({"patient_id": f"p{number:04d}", "as_of": "2026-11-25", "medications": meds}) + "\n"
            )
            if number == 350:
                handle.write("garbage\n")
    status, one, _ = batch(path, "--workers", "1")
    status2, two, stderr = batch(path, "--workers", "2")
    assert status == status2 == 1
    assert "line 352: not valid JSON" in stderr
    ids = list(dict.fromkeys(r["patient_id"] for r in records(two)))
    assert ids == [f"p{n:04d}" for n in range(700)]
    assert two == one


def test_summary_counts_alerts_and_lists_unrecognized_names_most_common_first(tmp_path):
    lines = [
        {"patient_id": f"s{n}", "as_of": "2026-11-25", "medications": meds}
        for n, meds in enumerate(
            [
                [{"name": "naltrexone 4.5 mg capsule", "frequency": "QHS"}, {"name": "oxycodone 5 mg tablet"}],
                [{"name": "plinkorex 2 mg"}],
                [{"name": "Blarvatine"}, {"name": "plinkorex 2 mg"}],
                [{"name": "plinkorex  2 MG"}],
            ]
        )
    ]
    status, _, stderr = batch("-", "--workers", "1", stdin="".join(json.dumps(line) + "\n" for line in lines))
    assert status == 0
    assert "patients checked:      4" in stderr and "lines failed:          0" in stderr
    assert "patients with alerts:  4" in stderr
    assert "opioid-use                         high               1" in stderr
    assert "unrecognized-medication            info               3" in stderr
    listed = stderr.split("unrecognized medication names", 1)[1].splitlines()[1:3]
    assert [line.split(None, 1) for line in listed] == [["3", "plinkorex 2 mg"], ["1", "Blarvatine"]]


def test_stdin_input_and_csv_input_format_flag():
    status, stdout, stderr = batch(
        "-", "--input-format", "csv", "--format", "csv", "--workers", "1", stdin=CSV.read_text()
    )
    assert status == 0, stderr
    assert [r["code"] for r in rows(stdout) if r["patient_id"] == "P-001"] == ["opioid-use"]


def test_output_file_and_spreadsheet_formula_cells_are_defused(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text(
        json.dumps(
            {
                "patient_id": '=HYPERLINK("http://x")',
                "as_of": "2026-11-25",
                "medications": [{"name": "lisinopril 10 mg tablet"}],
            }
        )
        + "\n"
    )
    output = tmp_path / "out.csv"
    status, stdout, _ = batch(source, "--output", output, "--workers", "1")
    assert status == 0 and stdout == ""
    assert rows(output.read_text())[0]["patient_id"] == '\'=HYPERLINK("http://x")'


@pytest.mark.parametrize(
    "args",
    [
        ("/nonexistent/patients.ndjson",),
        (NDJSON, "--workers", "0"),
        (NDJSON, "--format", "xml"),
    ],
)
def test_usage_errors_exit_2(args):
    status, stdout, _ = batch(*args)
    assert status == 2 and stdout == ""


def test_unknown_csv_column_is_a_usage_error(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("patient_id,name,colour\n1,oxycodone,blue\n")
    status, _, stderr = batch(path)
    assert status == 2 and "unknown CSV column(s) 'colour'" in stderr


def run_batch(*args, env=None, stdin=None):
    """The command without --no-progress: stderr is a pipe, as in a nightly job."""
    import os

    out = subprocess.run(
        [sys.executable, "-m", "service.batch", *map(str, args)],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return out.returncode, out.stdout, out.stderr


def test_off_a_terminal_there_is_no_bar_but_plain_progress_lines():
    status, _stdout, stderr = run_batch(NDJSON, "--workers", "1", env={"LDN_PROGRESS_SECONDS": "0"})
    assert status == 0, stderr
    assert "lines/s" not in stderr and "%|" not in stderr  # no tqdm bar in a log file
    assert re.search(r"^screening: \d+ lines read, \d+ patients checked, 0 failed$", stderr, re.M)


def test_a_bar_can_be_asked_for_and_switched_off():
    _status, _stdout, stderr = run_batch(NDJSON, "--workers", "1", "--progress")
    assert "lines/s" in stderr and "%|" in stderr
    _status, _stdout, stderr = run_batch(NDJSON, "--workers", "1", "--no-progress", env={"LDN_PROGRESS_SECONDS": "0"})
    assert "screening:" not in stderr


def test_a_repeated_ndjson_patient_is_reported_like_a_repeated_csv_patient():
    record = {
        "patient_id": "p1",
        "as_of": "2026-11-25",
        "medications": [{"id": "a", "name": "naltrexone 4.5 mg capsule", "compounded": True}],
    }
    text = "\n".join(json.dumps(r) for r in (record, {**record, "patient_id": "p2"}, record)) + "\n"
    status, stdout, stderr = batch("-", "--workers", "1", stdin=text)
    assert status == 1
    assert "line 3: patient_id 'p1' appears again" in stderr
    assert sorted({r["patient_id"] for r in records(stdout)}) == ["p1", "p2"]
    assert [r["line"] for r in records(stdout) if r["patient_id"] == "p1"] == [1]


def test_pharmacy_claims_rows_with_dispense_dates_give_the_interval_alert(tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text(
        "patient_id,id,name,dispensed_on,days_supply,status,as_of\n"
        "MRN-7,c1,tramadol 50 mg tablet,2026-10-01,30,,2026-11-25\n"
        "MRN-7,c2,tramadol 50 mg tablet,2026-11-10,10,,\n"
        "MRN-7,ldn,naltrexone 1.5 mg capsule (compounded),,,proposed,\n"
        "MRN-8,c1,tramadol 50 mg tablet,,30,,2026-11-25\n"
    )
    status, stdout, stderr = batch(claims, "--workers", "1")
    assert status == 1, stderr  # MRN-8: days_supply without dispensed_on is that patient's error
    by_patient = {r["patient_id"]: r for r in records(stdout)}
    assert by_patient["MRN-7"]["code"] == "opioid-free-interval" and by_patient["MRN-7"]["severity"] == "critical"
    assert "MRN-8" not in by_patient and "days_supply" in stderr


@pytest.mark.parametrize(
    ("drug", "ended", "severity"),
    [
        ("oxycodone 5 mg tablet", 6, "critical"),
        ("oxycodone 5 mg tablet", 7, "moderate"),
        ("oxycodone 5 mg tablet", 10, None),
        ("methadone 10 mg tablet", 13, "high"),
        ("methadone 10 mg tablet", 14, None),
    ],
)
def test_dispense_rows_alone_drive_the_interval_in_batch(tmp_path, drug, ended, severity):
    import datetime

    as_of = datetime.date(2026, 11, 25)
    dispensed = as_of - datetime.timedelta(days=ended + 13)  # 14 days' supply ending `ended` days before as_of
    claims = tmp_path / "claims.csv"
    claims.write_text(
        "patient_id,id,name,dispensed_on,days_supply,status,as_of\n"
        f"P1,c1,{drug},{dispensed.isoformat()},14,,{as_of.isoformat()}\n"
        "P1,ldn,naltrexone 1.5 mg capsule (compounded),,,proposed,\n"
    )
    status, stdout, stderr = batch(claims, "--workers", "1")
    assert status == 0, stderr
    (record,) = records(stdout)
    assert (record["code"], record["severity"]) == (("opioid-free-interval", severity) if severity else (None, None))
