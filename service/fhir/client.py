"""Fetch what the EHR did not prefetch from its FHIR server: time-boxed, bounded paging, the token never logged."""

import ipaddress
import json
import logging
import threading
import time
from urllib.parse import urljoin, urlsplit

import requests

log = logging.getLogger(__name__)

MAX_PAGES = 5  # a patient's active orders or conditions fit in a few pages; more is a runaway search
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_local = threading.local()


class FhirFetchError(Exception):
    """The FHIR server could not give us the data (timeout, refusal, not FHIR); the message names no patient data."""


def _session():
    """One connection pool per thread: requests.Session is not documented as thread-safe."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False  # the EHR's FHIR server is reached directly, never via a proxy from the env
    return session


def _loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_server_url(url):
    """https only (the access token travels with every call), except on loopback for local development and tests."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname or "")):
        return
    raise FhirFetchError("the FHIR server must be reached over https")


def _same_origin(url, base):
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _get_json(url, token, deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FhirFetchError("timed out")
    headers = {"Accept": "application/fhir+json, application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = _session().get(url, headers=headers, timeout=remaining, allow_redirects=False, stream=True)
        try:
            if response.status_code != 200:
                raise FhirFetchError(f"the FHIR server answered {response.status_code}")
            raw = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        finally:
            response.close()
    except requests.Timeout as error:
        raise FhirFetchError("timed out") from error
    except requests.RequestException as error:
        # The exception text can carry the URL (with the patient id): log the class only.
        raise FhirFetchError(f"request failed ({type(error).__name__})") from error
    if time.monotonic() > deadline:
        raise FhirFetchError("timed out")
    if len(raw) > MAX_RESPONSE_BYTES:
        raise FhirFetchError("response too large")
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise FhirFetchError("the answer is not JSON") from error
    if not isinstance(body, dict):
        raise FhirFetchError("the answer is not a FHIR resource")
    if body.get("resourceType") == "OperationOutcome":
        raise FhirFetchError("the FHIR server answered with an OperationOutcome")
    return body


def fetch(server, query, token=None, timeout=3.0, max_pages=MAX_PAGES):
    """GET {server}/{query} and follow `next` links on the same server: one Bundle with every page's entries."""
    check_server_url(server)
    base = server.rstrip("/") + "/"
    url = urljoin(base, query.lstrip("/"))
    deadline = time.monotonic() + timeout
    started = time.perf_counter()
    entries = []
    pages = 0
    while url and pages < max_pages:
        body = _get_json(url, token, deadline)
        pages += 1
        if body.get("resourceType") != "Bundle":
            entries.append({"resource": body})
            break
        entries.extend(e for e in body.get("entry") or () if isinstance(e, dict))
        url = next(
            (
                link.get("url")
                for link in body.get("link") or ()
                if isinstance(link, dict) and link.get("relation") == "next"
            ),
            None,
        )
        # The token goes only to the server the EHR named: a `next` link elsewhere is not followed.
        if url and not _same_origin(urljoin(base, url), base):
            raise FhirFetchError("a paging link points to another server")
        url = urljoin(base, url) if url else None
    else:
        if url:
            raise FhirFetchError(f"more than {max_pages} pages")
    log.info(
        "fetched from the FHIR server",
        extra={
            "event": "fhir_fetch",
            "count": len(entries),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}
