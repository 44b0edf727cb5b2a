"""The JSON request log: one line per request, request id echoed, knowledge versions, and no patient data."""

import json
import logging
import re

import pytest

from service import create_app

NAMES = ("naltrexone 4.5 mg capsule", "oxyCODONE-acetaminophen (PERCOCET) 5-325 MG per tablet", "Zorblaxin 12 mg")
BODY = {
    "as_of": "2026-11-25",
    "patient": {"conditions": [{"name": "fibromyalgia"}]},
    "medications": [
        {"id": "m1", "name": NAMES[0], "compounded": True, "instructions": "take 1 capsule at bedtime"},
        {"id": "m2", "name": NAMES[1], "status": "proposed"},
        {"id": "m3", "name": NAMES[2]},
    ],
}


def read(capsys):
    """What the app wrote to stderr so far: its log lines are written off the request thread, so wait for them."""
    for handler in logging.getLogger("service").handlers:
        handler.flush()
    return capsys.readouterr()


def log_lines(text):
    """The JSON objects among captured stderr lines."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def logged_client(capsys):
    """A client of an app made inside the test, so its JSON log handler writes to the test's captured stderr."""
    # pytest swaps sys.stderr between fixture set-up and the test call: a handler made in a fixture writes elsewhere.
    app = create_app({"TESTING": True})
    read(capsys)  # drop the start-up lines
    return app.test_client()


def requests_in(text):
    """The access-log entries in captured stderr."""
    return [entry for entry in log_lines(text) if entry.get("event") == "request"]


def test_check_log_line_has_request_id_versions_and_codes_but_no_names_or_body(capsys):
    client = logged_client(capsys)
    response = client.post("/v1/check", json=BODY, headers={"X-Request-ID": "req-42.a_b:c"})
    assert response.status_code == 200
    answer = response.get_json()
    assert response.headers["X-Request-ID"] == "req-42.a_b:c"
    text = read(capsys).err

    (entry,) = requests_in(text)
    assert entry["request_id"] == "req-42.a_b:c"
    assert entry["path"] == "/v1/check"
    assert entry["status"] == 200
    assert entry["ruleset_version"] == answer["ruleset"]["version"]
    assert entry["vocabulary_version"] == answer["ruleset"]["vocabulary_version"]
    assert entry["alert_codes"] == sorted({alert["code"] for alert in answer["alerts"]})
    assert "opioid-use" in entry["alert_codes"]
    assert entry["unrecognized"] == 1

    lowered = text.lower()
    for value in (*NAMES, "Zorblaxin", "PERCOCET", "fibromyalgia", "take 1 capsule at bedtime"):
        assert value.lower() not in lowered, value
    assert json.dumps(BODY) not in text
    assert '"medications"' not in text


def test_invalid_request_log_has_no_submitted_values(capsys):
    client = logged_client(capsys)
    body = {"medications": [{"id": "m1", "name": "Zorblaxin 12 mg", "dose_mg": "lots"}], "nonsense": "Jane Doe"}
    response = client.post("/v1/check", json=body)
    assert response.status_code == 422
    text = read(capsys).err
    (entry,) = requests_in(text)
    assert entry["status"] == 422
    assert entry["request_id"] == response.headers["X-Request-ID"]
    for value in ("Zorblaxin", "Jane Doe", "lots"):
        assert value not in text


@pytest.mark.parametrize("sent", ["has spaces", "x" * 129, "semi;colon", ""])
def test_unsafe_request_ids_are_replaced_and_the_replacement_is_logged(capsys, sent):
    client = logged_client(capsys)
    response = client.get("/v1/rules", headers={"X-Request-ID": sent})
    echoed = response.headers["X-Request-ID"]
    assert echoed and echoed != sent
    (entry,) = requests_in(read(capsys).err)
    assert entry["request_id"] == echoed


def test_probes_and_scrapes_stay_out_of_the_info_log(capsys):
    client = logged_client(capsys)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200
    assert requests_in(read(capsys).err) == []


def test_the_readmes_samples_show_the_vocabulary_that_ships():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shipped = json.loads((root / "rules" / "knowledge" / "data" / "vocabulary.json").read_text())["version"]
    shown = set(re.findall(r'"vocabulary_version": "([0-9a-f]+)"', (root / "README.md").read_text()))
    assert shown == {shipped}, "update the README's samples after a vocabulary rebuild"
