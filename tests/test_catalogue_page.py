"""GET / and POST /: the rule catalogue and try-it page, through the Flask test client."""

import re

from markupsafe import escape

from rules.catalogue import catalogue
from service import create_app

LDN_AND_OPIOID = "naltrexone 4.5 mg capsule\nproposed: oxycodone 5 mg tablet"


def _text(response):
    return response.get_data(as_text=True)


def test_get_lists_every_rule_with_its_guideline_and_references(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = _text(response)
    assert '<html lang="en">' in page
    assert "<main" in page and "<h1>" in page
    for rule in client.get("/v1/rules").get_json()["rules"]:
        assert f'id="rule-{rule["id"]}"' in page
        for text in (rule["code"], rule["summary"], rule["guideline"], rule["when"], rule["then"]):
            assert str(escape(text)) in page, (rule["id"], text)
        for reference in rule["references"]:
            assert str(escape(reference["title"])) in page
    assert len(re.findall(r'<article class="rule"', page)) == len(catalogue())
    for entry in client.get("/v1/rules").get_json()["definitions"]:
        assert str(escape(entry["name"])) in page and str(escape(entry["meaning"])) in page


def test_form_fields_have_labels(client):
    page = _text(client.get("/"))
    for field in ("medications", "as_of", "last_opioid_use", "opioid_dependence", "conditions"):
        assert f'id="{field}"' in page
        assert f'for="{field}"' in page or f'id="{field}" name="{field}" value="yes"' in page


def test_stylesheet_is_served_from_self(client):
    page = _text(client.get("/"))
    assert 'href="/static/catalogue.css"' in page and "<style" not in page and "<script" not in page
    with client.get("/static/catalogue.css") as response:
        assert response.status_code == 200 and response.mimetype == "text/css"
        assert b"color" in response.get_data()


def test_post_with_an_opioid_shows_the_same_alerts_as_the_api(client):
    response = client.post("/", data={"medications": LDN_AND_OPIOID, "as_of": "2026-11-25"})
    assert response.status_code == 200
    page = _text(response)
    api = client.post(
        "/v1/check",
        json={
            "as_of": "2026-11-25",
            "medications": [
                {"id": "1", "name": "naltrexone 4.5 mg capsule", "status": "active"},
                {"id": "2", "name": "oxycodone 5 mg tablet", "status": "proposed"},
            ],
        },
    ).get_json()
    assert "opioid-use" in [alert["code"] for alert in api["alerts"]]
    for alert in api["alerts"]:
        for text in (alert["code"], alert["summary"], alert["rationale"], alert["recommendation"]):
            assert str(escape(text)) in page
    assert page.count('<article class="alert') == len(api["alerts"])
    assert "The raw JSON response" in page
    assert "proposed" in page  # the prefix set line 2's status


def test_post_shows_how_each_medication_was_understood(client):
    page = _text(
        client.post("/", data={"medications": "naltrexone 4.5 mg capsule\nfrobnitol 20 mg", "as_of": "2026-11-25"})
    )
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", page, re.S)
    assert [(line, text, "no" in recognized) for line, text, recognized in rows] == [
        ("1", "naltrexone 4.5 mg capsule", False),
        ("2", "frobnitol 20 mg", True),
    ]
    assert "4.5 mg" in page


def test_patient_facts_reach_the_rules(client):
    page = _text(
        client.post(
            "/",
            data={
                "medications": "naltrexone 4.5 mg capsule",
                "as_of": "2026-11-25",
                "opioid_dependence": "yes",
            },
        )
    )
    assert "opioid-dependence" in page and "LDN-DEP-001" in page


def test_a_bad_date_is_a_422_page_not_a_500(client):
    response = client.post("/", data={"medications": "oxycodone", "as_of": "2026-13-45"})
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    page = _text(response)
    assert "The check was not run" in page and "Check date" in page and "Not a valid date." in page
    assert "oxycodone" in page  # the reviewer's list is kept


def test_an_empty_list_is_a_422_page(client):
    response = client.post("/", data={"medications": "  \n "})
    assert response.status_code == 422
    assert "Paste at least one medication" in _text(response)


def test_a_too_long_line_names_its_line(client):
    response = client.post("/", data={"medications": "oxycodone\n" + "x" * 600})
    assert response.status_code == 422
    assert "Medication line 2" in _text(response)


def test_pasted_markup_is_escaped(client):
    response = client.post(
        "/",
        data={
            "medications": "naltrexone 4.5 mg\n<script>alert(1)</script>",
            "conditions": "<img src=x onerror=alert(2)>",
            "as_of": "2026-11-25",
        },
    )
    assert response.status_code == 200
    page = _text(response)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_with_an_api_key_the_form_is_off_and_post_needs_the_key():
    app = create_app({"TESTING": True, "API_KEY": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"})
    client = app.test_client()
    page = _text(client.get("/"))
    assert "switched off" in page and '<form method="post"' not in page
    assert 'id="rule-LDN-OPI-001"' in page
    refused = client.post("/", data={"medications": LDN_AND_OPIOID})
    assert refused.status_code == 401 and "opioid-use" not in _text(refused).split("Rule catalogue")[0]
    allowed = client.post(
        "/",
        data={"medications": LDN_AND_OPIOID, "as_of": "2026-11-25"},
        headers={"Authorization": "Bearer 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"},
    )
    assert allowed.status_code == 200 and 'class="alert sev-high"' in _text(allowed)


def test_page_keeps_the_strict_content_security_policy(client):
    response = client.get("/")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_page_answers_are_documented_in_the_contract(client, contract):
    contract.validate_response("/", "get", client.get("/"))
    contract.validate_response("/", "post", client.post("/", data={"medications": LDN_AND_OPIOID}))
    contract.validate_response("/", "post", client.post("/", data={"medications": ""}))
    keyed = create_app({"TESTING": True, "API_KEY": "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f3021"}).test_client()
    contract.validate_response("/", "post", keyed.post("/", data={"medications": LDN_AND_OPIOID}))
