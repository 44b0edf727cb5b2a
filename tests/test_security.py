"""Security: no patient data in the gunicorn process's logs, security headers on every answer, CORS only where
configured (preflight included), no version banner, pinned dependencies.

Constant-time comparison of the API key (hmac.compare_digest in service/auth.py) is checked by code review
only: timing tests are flaky by nature and prove little.
"""

import json
import re
from pathlib import Path

import pytest

from service import create_app
from tests.servers import request, running_gunicorn

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-25"
TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a49382"
# Distinctive, realistic names: if any of them shows up in a log line, patient data leaked.
NAMES = [
    "oxyCODONE-acetaminophen (PERCOCET) 5-325 MG per tablet",
    "naltrexone 4.5 mg capsule (compounded)",
    "Zyxalorin 12 mg",
    "Opioid use disorder, severe",
    "left knee arthroscopy",
]
BODY = {
    "as_of": AS_OF,
    "medications": [
        {"id": "med-a", "name": NAMES[0], "instructions": "take one tablet every 6 hours"},
        {"id": "med-b", "name": NAMES[1], "compounded": True},
        {"id": "med-c", "name": NAMES[2]},
    ],
    "patient": {"conditions": [{"name": NAMES[3]}], "upcoming_procedures": [{"name": NAMES[4]}]},
}
INVALID = {
    "as_of": AS_OF,
    "medications": [
        {"id": "med-a", "name": NAMES[0], "dose": {"value": -1, "unit": "mg"}},
        {"name": NAMES[2], "dosage": NAMES[1]},
    ],
}


def _forbidden_fragments():
    fragments = [TOKEN, json.dumps(BODY)[:40], "every 6 hours"]
    for name in NAMES:
        fragments += [name, name.lower(), json.dumps(name)[1:-1]]
    fragments += ["percocet", "zyxalorin", "arthroscopy"]
    return fragments


def _assert_clean(log_text):
    lowered = log_text.lower()
    leaked = [fragment for fragment in _forbidden_fragments() if fragment.lower() in lowered]
    assert leaked == [], leaked


@pytest.mark.slow
def test_gunicorn_logs_hold_no_patient_data_or_tokens_on_success_and_error_paths(tmp_path):
    log_path = tmp_path / "gunicorn.log"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with running_gunicorn({"LDN_API_KEY": TOKEN}, workers=1, log_path=log_path) as (base, _):
        assert request(base, "/v1/check", BODY, headers=auth)[0] == 200
        assert request(base, "/v1/check", INVALID, headers=auth)[0] == 422
        assert request(base, "/v1/check", BODY, headers={"Authorization": f"Bearer {TOKEN}x"})[0] == 401
        assert request(base, "/v1/check", json.dumps(BODY).encode()[:-3], headers=auth)[0] == 400
        assert request(base, "/v1/check?name=" + "Zyxalorin", BODY, headers=auth)[0] == 200
    faulty_log = tmp_path / "faulty.log"
    with running_gunicorn(
        {"LDN_TEST_FAULTY_RULE": "1"}, workers=1, app="tests.wrapped_app:app", log_path=faulty_log
    ) as (base, _):
        assert request(base, "/v1/check", BODY, headers=auth)[0] == 500
    text = log_path.read_text() + faulty_log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request" and line.get("path") == "/v1/check"]
    assert {line["status"] for line in access} >= {200, 422, 401, 400, 500}, access  # the logs were captured
    assert all(line.get("request_id") for line in access)
    assert any(line.get("alert_codes") for line in access)  # codes are logged, names are not
    _assert_clean(text)


def _check_headers(response):
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("config", "method", "path", "kwargs", "status"),
    [
        ({}, "get", "/v1/rules", {}, 200),
        ({}, "get", "/readyz", {}, 200),
        ({}, "get", "/openapi.yaml", {}, 200),
        ({}, "post", "/v1/check", {"json": BODY}, 200),
        ({}, "post", "/v1/check", {"data": b"{", "content_type": "application/json"}, 400),
        ({"API_KEY": TOKEN}, "post", "/v1/check", {"json": BODY}, 401),
        ({}, "get", "/nowhere", {}, 404),
        ({}, "put", "/v1/check", {}, 405),
        ({"MAX_CONTENT_LENGTH": 100}, "post", "/v1/check", {"json": BODY}, 413),
        ({}, "post", "/v1/check", {"data": b"{}", "content_type": "text/plain"}, 415),
        ({}, "post", "/v1/check", {"json": INVALID}, 422),
    ],
)
def test_security_headers_on_every_answer(config, method, path, kwargs, status):
    client = create_app({"TESTING": True, **config}).test_client()
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    _check_headers(response)


def test_security_headers_on_a_500():
    from tests.wrapped_app import faulty_checker

    app = create_app({"TESTING": True})
    app.extensions["ldn_pipeline"].checker = faulty_checker(app.config["VOCABULARY_PATH"])
    response = app.test_client().post("/v1/check", json=BODY)
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    _check_headers(response)


ALLOWED = "https://ehr.example.org"


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        ([], ALLOWED, False),  # CORS is off by default
        ([ALLOWED], ALLOWED, True),
        ([ALLOWED], "https://evil.example", False),
        ([ALLOWED], "https://ehr.example.org.evil.example", False),
        ([ALLOWED], "null", False),
        ([ALLOWED], ALLOWED.upper(), False),
    ],
)
def test_cors_only_for_configured_origins_including_preflight(origins, origin, allowed):
    client = create_app({"TESTING": True, "CORS_ORIGINS": origins}).test_client()
    preflight = client.options(
        "/v1/check",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    actual = client.post("/v1/check", json={"as_of": AS_OF, "medications": []}, headers={"Origin": origin})
    assert actual.status_code == 200 and preflight.status_code in (200, 204)
    for response in (preflight, actual):
        _check_headers(response)
        if allowed:
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "Origin" in response.headers.get("Vary", "")
        else:
            assert "Access-Control-Allow-Origin" not in response.headers
            assert "Access-Control-Allow-Credentials" not in response.headers
    if allowed:
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert "content-type" in allowed_headers and "authorization" in allowed_headers
    assert preflight.headers.get("Access-Control-Allow-Origin") != "*"


@pytest.mark.slow
def test_no_version_banner_from_the_real_server():
    """gunicorn 27 writes `Server: gunicorn` itself (gunicorn/http/wsgi.py Response.version = SERVER, no version;
    the versioned SERVER_SOFTWARE only goes into the WSGI environ). The app cannot remove it; it carries no version."""
    with running_gunicorn(workers=1) as (base, _):
        for path, body in (("/healthz", None), ("/v1/check", {"medications": [None]}), ("/nowhere", None)):
            status, headers, _ = request(base, path, body)
            assert headers.get("Server") == "gunicorn", headers
            assert not any(
                re.search(r"\d+\.\d+", value)
                for name, value in headers.items()
                if name.lower() in ("server", "x-powered-by", "via")
            )


def test_every_requirement_is_pinned():
    files = sorted(ROOT.glob("requirements*.txt"))
    assert files
    for file in files:
        for line in file.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-r "):
                continue
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-\[\],]*==[A-Za-z0-9.+!\-]+", line), f"{file.name}: {line}"


def test_the_container_runs_as_non_root_with_a_read_only_root_possible():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), users
    assert "--read-only" in dockerfile  # documented run line
    assert "worker_tmp_dir" in (ROOT / "gunicorn.conf.py").read_text()  # heartbeat off the root filesystem
    # The final image carries only what runs: no wheels copied in (a later `rm` would leave them in a layer).
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "/wheels" not in final_stage and "COPY --from=build /opt/venv /opt/venv" in final_stage
