"""Hostile and broken input against the REAL server (gunicorn + the app), over raw sockets with timeouts.

tests/test_api.py already covers malformed JSON, content types and field validation through the test client;
this table adds what only a real server shows (header abuse, wrong Content-Length, chunked bodies, smuggling
shapes) and the hostile bodies issue 7 lists that test_api.py does not have. Every answer must be the right
4xx, quickly, with no stack trace and no version banner. Answers made by the app are problem documents with
the security headers; answers gunicorn makes itself (it refuses some requests before the app sees them: 400,
414, 431) are gunicorn's fixed HTML page, checked for status, no version and a closed connection.
"""

import json
import re
import socket
import time

import pytest

from tests.servers import running_gunicorn

pytestmark = pytest.mark.slow

TIMEOUT = 10  # seconds: any case slower than this is a hang
PROBLEM = "application/problem+json"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def server():
    """One real gunicorn (2 sync workers, the production config) for the whole table."""
    with running_gunicorn(workers=2) as (base, process):
        yield int(base.rsplit(":", 1)[1]), process


def raw_exchange(port, data, half_close=False, timeout=TIMEOUT):
    """Send raw bytes, read one HTTP response (until Content-Length or close); return (status, headers, body)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything we send
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        headers, body_start = None, None
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            received += chunk
            if headers is None and b"\r\n\r\n" in received:
                head, _, _ = received.partition(b"\r\n\r\n")
                body_start = len(head) + 4
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers.setdefault(name.strip().lower(), []).append(value.strip())
            if headers is not None and "content-length" in headers:
                if len(received) - body_start >= int(headers["content-length"][0]):
                    break
            assert time.monotonic() - started < timeout, "the server hung"
    assert headers is not None, f"no HTTP response (got {received[:200]!r})"
    length = int(headers["content-length"][0]) if "content-length" in headers else None
    body = received[body_start : body_start + length] if length is not None else received[body_start:]
    return status, {k: v[0] if len(v) == 1 else v for k, v in headers.items()}, body


def post(body, content_type="application/json", extra=b"", content_length=None):
    """A raw POST /v1/check."""
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    length = len(body) if content_length is None else content_length
    head = (
        f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
    ).encode()
    return head + extra + b"\r\n" + body


def med(**fields):
    return {"as_of": "2026-11-25", "medications": [{"name": "naltrexone 4.5 mg capsule", **fields}]}


def nested(depth):
    value = {"name": "x"}
    for _ in range(depth):
        value = {"a": value}
    return json.dumps({"medications": [], "patient": value}).encode()


BIG_HEADER = b"X-Big: " + b"a" * 9000 + b"\r\n"
MANY_HEADERS = b"".join(b"X-H%d: 1\r\n" % i for i in range(120))

# (id, raw request bytes, expected status, answered by the app (problem document) or by gunicorn itself)
CASES = [
    # --- header abuse: gunicorn refuses before the app ---
    ("huge-header", post({"medications": []}, extra=BIG_HEADER), {431, 400}, "gunicorn"),
    ("too-many-headers", post({"medications": []}, extra=MANY_HEADERS), {431, 400}, "gunicorn"),
    ("huge-request-line", b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414, 400}, "gunicorn"),
    ("nul-in-header", post({"medications": []}, extra=b"X-Evil: a\x00b\r\n"), {400}, "gunicorn"),
    ("content-length-not-a-number", post({"medications": []}, content_length="ten"), {400}, "gunicorn"),
    ("negative-content-length", post({"medications": []}, content_length=-5), {400}, "gunicorn"),
    ("two-different-content-lengths", post({"medications": []}, extra=b"Content-Length: 3\r\n"), {400}, "gunicorn"),
    (
        "content-length-and-chunked",  # the request-smuggling shape
        post({"medications": []}, extra=b"Transfer-Encoding: chunked\r\n"),
        {400},
        "gunicorn",
    ),
    ("not-http", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", {400}, "gunicorn"),
    # --- wrong Content-Length ---
    ("content-length-shorter-than-body", post({"medications": []}, content_length=5), {400}, "app"),
    ("content-length-zero", post({"medications": []}, content_length=0), {400}, "app"),
    # --- bodies ---
    ("truncated-json", post(b'{"medications": [{"name": "oxycodone'), {400}, "app"),
    ("json-with-trailing-garbage", post(b'{"medications": []} {"medications": []}'), {400}, "app"),
    ("deep-nesting-arrays", post(b"[" * 5000 + b"]" * 5000), {400}, "app"),
    ("deep-nesting-objects", post(nested(40)), {400}, "app"),
    ("nesting-just-inside-the-limit-is-not-a-400", post(nested(29)), {422}, "app"),
    ("very-long-name", post(med(name="oxycodone " * 10_000)), {422}, "app"),
    ("very-long-id", post(med(id="i" * 129)), {422}, "app"),
    ("very-long-instructions", post(med(instructions="take " * 401)), {422}, "app"),
    ("very-long-unit", post(med(dose={"value": 1, "unit": "m" * 100_000})), {422}, "app"),
    ("very-long-key", post({"medications": [], "k" * 100_000: 1}), {422}, "app"),
    ("body-over-1-mib", post(med(name="a" * (1024 * 1024 + 10))), {413}, "app"),
    (
        "ten-thousand-medications",
        post({"medications": [{"id": str(i), "name": "oxycodone 5 mg tablet"} for i in range(10_000)]}),
        {413, 422},
        "app",
    ),
    ("501-medications", post({"medications": [{"name": "aspirin"}] * 501}), {422}, "app"),
    ("nan", post(b'{"medications": [{"name": "x", "dose": {"value": NaN, "unit": "mg"}}]}'), {400}, "app"),
    (
        "minus-infinity",
        post(b'{"medications": [{"name": "x", "dose": {"value": -Infinity, "unit": "mg"}}]}'),
        {400},
        "app",
    ),
    ("1e308", post(b'{"medications": [{"name": "x", "strength": {"value": 1e308, "unit": "mg"}}]}'), {422}, "app"),
    (
        "1e400-overflows-to-infinity",
        post(b'{"medications": [{"name": "x", "dose": {"value": 1e400, "unit": "mg"}}]}'),
        {422},
        "app",
    ),
    (
        "5e-324-is-positive",
        post(b'{"medications": [{"name": "x", "dose": {"value": 5e-324, "unit": "mg"}}]}'),
        {200},
        "app",
    ),
    (
        "huge-integer",
        post(b'{"medications": [{"name": "x", "dose": {"value": 1' + b"0" * 4000 + b', "unit": "mg"}}]}'),
        {400, 422},
        "app",
    ),
    ("zero-strength", post(med(strength={"value": 0, "unit": "mg"})), {422}, "app"),
    (
        "negative-zero-dose",
        post(b'{"medications": [{"name": "x", "dose": {"value": -0.0, "unit": "mg"}}]}'),
        {422},
        "app",
    ),
    ("negative-strength", post(med(strength={"value": -4.5, "unit": "mg"})), {422}, "app"),
    ("dose-over-the-ceiling", post(med(dose={"value": 1_000_001, "unit": "mg"})), {422}, "app"),
    ("unknown-unit", post(med(dose={"value": 4.5, "unit": "mg/day"})), {422}, "app"),
    ("unit-not-a-string", post(med(dose={"value": 4.5, "unit": 5})), {422}, "app"),
    ("empty-unit", post(med(dose={"value": 4.5, "unit": ""})), {422}, "app"),
    ("february-30", post(med(start_date="2026-02-30")), {422}, "app"),
    ("date-without-zero-padding", post(med(start_date="2026-2-3")), {422}, "app"),
    ("date-with-time", post(med(end_date="2026-11-25T10:00:00Z")), {422}, "app"),
    ("year-zero", post({"as_of": "0000-01-01", "medications": []}), {422}, "app"),
    ("as-of-null", post({"as_of": None, "medications": []}), {422}, "app"),
    ("null-code", post(med(codes=[None])), {422}, "app"),
    ("null-condition", post({"medications": [], "patient": {"conditions": [None]}}), {422}, "app"),
    ("null-procedure", post({"medications": [], "patient": {"upcoming_procedures": [None]}}), {422}, "app"),
    ("null-strength", post(med(strength=None)), {422}, "app"),
    ("null-name", post({"medications": [{"name": None}]}), {422}, "app"),
    ("non-utf8-in-a-name", post(b'{"medications": [{"name": "oxy\xc3\x28codone"}]}'), {400}, "app"),
    ("latin-1-body", post('{"medications": [{"name": "caf\u00e9"}]}'.encode("latin-1")), {400}, "app"),
    ("utf-16-body", post('{"medications": []}'.encode("utf-16")), {400}, "app"),
    ("lone-surrogate", post(b'{"medications": [{"name": "oxy\\ud800codone"}]}'), {422}, "app"),
    ("bell-in-a-name", post(med(name="oxycodone\u0007")), {422}, "app"),
    ("ansi-escape-in-a-name", post(med(name="\u001b[31moxycodone\u001b[0m")), {422}, "app"),
    ("rtl-override-in-an-id", post(med(id="ldn\u202e1")), {422}, "app"),
    ("rtl-mark-in-instructions", post(med(instructions="take \u200f1 at bedtime")), {422}, "app"),
    ("zero-width-space-in-frequency", post(med(frequency="Q\u200bHS")), {422}, "app"),
    (
        "bidi-isolate-in-a-condition",
        post({"medications": [], "patient": {"conditions": [{"name": "OUD\u2066"}]}}),
        {422},
        "app",
    ),
    (
        "control-in-a-code",
        post(med(codes=[{"system": "http://hl7.org/fhir/sid/ndc", "code": "1\u00002"}])),
        {422},
        "app",
    ),
    (
        "duplicate-explicit-and-default-id",
        post({"medications": [{"id": "1", "name": "oxycodone"}, {"name": "naltrexone 4.5 mg"}]}),
        {422},
        "app",
    ),
    ("duplicate-keys-last-wins-and-is-checked", post(b'{"medications": [], "medications": 5}'), {422}, "app"),
    (
        "charset-latin-1-declared",
        post({"medications": []}, content_type="application/json; charset=latin-1"),
        {200},
        "app",
    ),
    ("json-suffix-type", post({"medications": []}, content_type="application/problem+json"), {200}, "app"),
    (
        "form-content-type",
        post(b"medications=oxycodone", content_type="application/x-www-form-urlencoded"),
        {415},
        "app",
    ),
    ("multipart", post(b"--x\r\n\r\n{}\r\n--x--", content_type="multipart/form-data; boundary=x"), {415}, "app"),
    # --- routing ---
    ("put-check", b"PUT /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", {405}, "app"),
    ("path-traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {404, 400}, "any"),
    ("unknown-path", b"GET /v1/check/../admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {404}, "app"),
]


@pytest.mark.parametrize(
    ("request_bytes", "statuses", "answered_by"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_gets_the_right_4xx_and_nothing_else(server, request_bytes, statuses, answered_by):
    port, process = server
    status, headers, body = raw_exchange(port, request_bytes)
    assert status in statuses, (status, body[:300])
    assert b"Traceback" not in body and b'File "' not in body
    assert not re.search(r"\d", headers.get("server", "")), headers.get("server")  # no version banner
    assert b"gunicorn/" not in body and not any("gunicorn/" in str(v) for v in headers.values())
    app_answer = headers.get("content-type") in (PROBLEM, "application/json")
    if answered_by == "app" or (answered_by == "any" and app_answer):
        assert app_answer, headers
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name) == value, (name, headers)
        document = json.loads(body)
        if status != 200:
            assert headers["content-type"] == PROBLEM
            assert document["status"] == status
            assert set(document) <= {"type", "title", "status", "detail", "instance", "errors"}
            assert document["type"].startswith("https://") and document["title"] and document["detail"]
            # The problem document names the field, never echoes the hostile value back at length.
            assert len(body) < 20_000
    elif answered_by == "gunicorn":
        assert headers.get("connection") == "close"
    assert process.poll() is None, "the server died"


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        (b'{"medications": [{"name": "oxycodone', 400),  # the body stops mid-JSON: malformed, 400
        (b'{"as_of": "2026-11-25", "medications": []}', 200),  # complete JSON: JSON delimits itself, so it is answered
    ],
)
def test_content_length_longer_than_the_body_does_not_hang(server, sent, status):
    """The client promises 1,000 bytes, sends fewer and half-closes: the server answers at once, no hang. gunicorn
    hands the app what arrived; a cut body is malformed JSON (400), never a shorter list read as complete."""
    port, _ = server
    started = time.monotonic()
    got, headers, body = raw_exchange(port, post(sent, content_length=1000), half_close=True)
    assert time.monotonic() - started < 5
    assert got == status, body
    if status == 400:
        assert headers["content-type"] == PROBLEM


def test_content_length_shorter_then_garbage_next_request_is_refused_not_executed(server):
    """The bytes past a short Content-Length are parsed as a next request on the same connection: gunicorn
    refuses the garbage with 400 and closes, it never runs it as a request."""
    port, _ = server
    smuggled = b'{"medications": []}GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n'
    request = (
        b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n" + smuggled
    )
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    responses = re.findall(rb"HTTP/1\.1 (\d{3})", received)
    assert responses[0] == b"200"
    # The second request is real HTTP here, so it is answered (404 problem), each on its own; nothing hangs.
    assert all(code in (b"200", b"404", b"400") for code in responses), responses


def test_chunked_body_is_accepted(server):
    port, _ = server
    body = json.dumps({"as_of": "2026-11-25", "medications": [{"name": "naltrexone 4.5 mg capsule"}]}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = (
        b"POST /v1/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked
    )
    status, headers, answer = raw_exchange(port, request)
    assert status == 200, answer
    assert json.loads(answer)["medications"][0]["recognized"] is True


def test_slow_body_is_cut_by_the_worker_timeout_not_held_forever(tmp_path):
    """A client that sends headers and then stalls (slowloris) holds a sync worker only until gunicorn's worker
    timeout (LDN_TIMEOUT): then the worker is killed and replaced and the connection closes. In production a
    buffering reverse proxy in front of gunicorn keeps slow clients off the workers (README)."""
    with running_gunicorn({"LDN_TIMEOUT": "2"}, workers=1) as (base, process):
        port = int(base.rsplit(":", 1)[1])
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(post({"medications": []}, content_length=1000)[:-5])
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
        elapsed = time.monotonic() - started
        assert elapsed < 12, elapsed
        assert data == b"" or data.startswith(b"HTTP/1.1 5") or data.startswith(b"HTTP/1.1 4"), data[:100]
        # The service still answers afterwards (a new worker).
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _, _ = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
