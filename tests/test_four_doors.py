"""The same medication list through every door (native API, try-it page, CDS Hooks, batch) gives the same alerts."""

import datetime
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rules.actions import CDS_INDICATOR
from service import create_app

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.datetime.now(datetime.UTC).date().isoformat()  # CDS Hooks checks as of today

# (line as a pharmacy or EHR writes it, status): the kinds of line each door must read alike.
LISTS = {
    "ldn-with-drafted-opioid": [
        ("naltrexone 4.5 mg capsule (compounded) at bedtime", "active"),
        ("oxycodone 5 mg tablet every 6 hours as needed", "proposed"),
        ("T3 5 mcg tablet every morning", "active"),
    ],
    "truncated-lines": [
        ("LDN 1.5MG CAP 1 PO QHS", "active"),
        ("APAP-COD ELIXIR 120-12/5", "active"),
        ("OXYC 5MG TAB", "active"),
        ("aspirin 81 mg zorblat", "active"),
    ],
    "commercial-tablet-divided": [
        ("naltrexone 50 mg tablet, 1/8 tablet at night", "proposed"),
        ("lisinopril 10 mg tablet daily", "active"),
    ],
}


def _key(alerts, index_of):
    """What must agree across doors: rule, code, severity and which lines (by position) each alert names."""
    return sorted(
        (a["rule"], a["code"], a["severity"], tuple(sorted(index_of(m) for m in a["medications"]))) for a in alerts
    )


def native(client, meds):
    body = {"as_of": TODAY, "medications": [{"id": str(i), "name": n, "status": s} for i, (n, s) in enumerate(meds)]}
    return _key(client.post("/v1/check", json=body).get_json()["alerts"], int)


def page(client, meds):
    text = "\n".join(f"{status}: {name}" for name, status in meds)
    response = client.post("/", data={"medications": text, "as_of": TODAY})
    raw = re.search(r"<pre><code>(.*?)</code></pre>", response.get_data(as_text=True), re.S).group(1)
    return _key(json.loads(html.unescape(raw))["alerts"], lambda med_id: int(med_id) - 1)  # lines count from 1


def cds(meds):
    client = create_app({"TESTING": True, "CDS_ALLOW_UNSIGNED": True}).test_client()

    def request(i, name, status):
        return {
            "resourceType": "MedicationRequest",
            "id": f"m{i}",
            "status": "draft" if status == "proposed" else status,
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": name},
        }

    drafts = [request(i, n, s) for i, (n, s) in enumerate(meds) if s == "proposed"]
    active = [request(i, n, s) for i, (n, s) in enumerate(meds) if s != "proposed"]
    body = {
        "hook": "order-sign",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/1",
            "patientId": "p1",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in drafts]},
        },
        "prefetch": {
            "medicationRequests": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in active],
            },
            "medicationStatements": None,
            "conditions": None,
            "medicationDispenses": None,
        },
    }
    answer = client.post("/cds-services/ldn-order-sign", json=body).get_json()
    # A card names no medications; the native alert behind it is asked for through the same translation.
    return sorted((card["source"]["topic"]["code"], card["indicator"]) for card in answer["cards"])


def batch(meds, tmp_path):
    record = {
        "patient_id": "p1",
        "as_of": TODAY,
        "medications": [{"id": str(i), "name": n, "status": s} for i, (n, s) in enumerate(meds)],
    }
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps(record) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "service.batch", str(source), "--workers", "1", "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    alerts = [json.loads(line) for line in out.stdout.splitlines()]
    return _key([a for a in alerts if a["code"]], int)


@pytest.mark.parametrize("name", sorted(LISTS))
def test_every_door_gives_the_same_alerts(client, tmp_path, name):
    meds = LISTS[name]
    expected = native(client, meds)
    assert expected, "each list is chosen to raise alerts"
    assert page(client, meds) == expected
    assert batch(meds, tmp_path) == expected
    assert cds(meds) == sorted((code, CDS_INDICATOR[severity]) for _rule, code, severity, _ids in expected)
