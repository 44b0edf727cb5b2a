"""CDS Hooks JWT security through the real app, with key pairs made here and a JWKS served on 127.0.0.1."""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service import create_app
from service.cds_auth import JtiCache
from tests.test_cds_hooks import hook_call, http_server, med_request, service_log

ISSUER = "https://ehr.example.org/cds"
AUDIENCE = "https://ldn.example.org"
DISCOVERY = "/cds-services"
SIGN = "/cds-services/ldn-order-sign"
FEEDBACK = "/cds-services/ldn-order-sign/feedback"


def _jwk(private_key, kid, alg):
    public = jwt.algorithms.get_default_algorithms()[alg].to_jwk(private_key.public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": alg, "use": "sig"}


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {"keys": [_jwk(RSA_KEY, "rsa-1", "RS384"), _jwk(EC_KEY, "ec-1", "ES384")]}


@pytest.fixture
def jwks():
    """A JWKS endpoint on 127.0.0.1 (its document can be changed by the test); yields (url, document, requests)."""
    document = json.loads(json.dumps(JWKS))
    with http_server(lambda path, headers: (200, document, 0)) as (base, seen):
        yield f"{base}/jwks.json", document, seen


@pytest.fixture
def secured(jwks):
    """The real app trusting ISSUER's JWKS, expecting aud = AUDIENCE + path."""
    url, _, _ = jwks
    app = create_app(
        {
            "TESTING": True,
            "CDS_TRUSTED_ISSUERS": {ISSUER: url},
            "CDS_AUDIENCE": AUDIENCE + "/",
            "CDS_JWKS_MIN_REFRESH_SECONDS": 0,
        }
    )
    return app.test_client()


def token(path=SIGN, key=RSA_KEY, kid="rsa-1", alg="RS384", headers=None, drop=(), **claims):
    """A signed EHR token for path; claims override, `drop` removes claims."""
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE + path,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "tenant": "health-system-1",
        **claims,
    }
    for name in drop:
        payload.pop(name, None)
    header = {"kid": kid, "typ": "JWT", **(headers or {})}
    header = {k: v for k, v in header.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers=header)


def call(client, path, bearer, contract=None):
    """GET discovery or POST a service/feedback with the token; returns the response."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    if path == DISCOVERY:
        response = client.get(path, headers=headers)
    elif path == FEEDBACK:
        response = client.post(
            path,
            headers=headers,
            json={"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]},
        )
    else:
        response = client.post(path, headers=headers, json=hook_call([med_request("x", "lisinopril 10 mg tablet")]))
    if contract is not None:
        template = {DISCOVERY: DISCOVERY, SIGN: "/cds-services/{id}", FEEDBACK: "/cds-services/{id}/feedback"}[path]
        contract.validate_response(template, "get" if path == DISCOVERY else "post", response)
    return response


def assert_bare_401(response):
    """401 with an OperationOutcome that says nothing."""
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login"}],
    }


@pytest.mark.parametrize("path", [DISCOVERY, SIGN, FEEDBACK])
def test_valid_tokens_pass_on_every_cds_endpoint(secured, contract, path):
    assert call(secured, path, token(path), contract).status_code == 200
    ec_token = token(path, key=EC_KEY, kid="ec-1", alg="ES384")
    assert call(secured, path, ec_token, contract).status_code == 200


def _none_token(path):
    now = int(time.time())
    return jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE + path, "exp": now + 300, "iat": now, "jti": "n"},
        None,
        algorithm="none",
        headers={"kid": "rsa-1", "typ": "JWT"},
    )


def _hs256_with_public_key(path):
    # The classic confusion attack: the RSA public key used as an HMAC secret.
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE + path, "exp": now + 300, "iat": now, "jti": "h"}).encode())
    signature = b64(hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


BAD_TOKENS = {
    "expired": lambda p: token(p, exp=int(time.time()) - 120, iat=int(time.time()) - 420),
    "wrong audience": lambda p: token(p, aud=AUDIENCE + "/cds-services/ldn-order-select"),
    "audience of another host": lambda p: token(p, aud="https://evil.example.org" + p),
    "wrong issuer": lambda p: token(p, iss="https://other-ehr.example.org"),
    "alg none": _none_token,
    "HS256 with the public key": _hs256_with_public_key,
    "HS256 with a secret": lambda p: token(p, key="a-shared-secret-of-32-bytes-long!", alg="HS256"),
    "unknown kid": lambda p: token(p, kid="rsa-unknown"),
    "no kid": lambda p: token(p, kid=None),
    "typ not JWT": lambda p: token(p, headers={"typ": "at+jwt"}),
    "jku elsewhere": lambda p: token(p, headers={"jku": "https://evil.example.org/jwks.json"}),
    "signed by another key": lambda p: token(p, key=OTHER_RSA_KEY),
    "key of another alg": lambda p: token(p, alg="PS384"),
    "no jti": lambda p: token(p, drop=("jti",)),
    "no iat": lambda p: token(p, drop=("iat",)),
    "no exp": lambda p: token(p, drop=("exp",)),
    "no aud": lambda p: token(p, drop=("aud",)),
    "issued in the future": lambda p: token(p, iat=int(time.time()) + 600, exp=int(time.time()) + 900),
    "lifetime of a day": lambda p: token(p, exp=int(time.time()) + 86_400),
    "not a JWT": lambda p: "not-a-jwt",
}


# Why each is refused (the log's reason): a token refused for another reason than the one under test is a bad test.
REASONS = {
    "expired": "expired",
    "wrong audience": "wrong audience",
    "audience of another host": "wrong audience",
    "wrong issuer": "issuer not trusted",
    "alg none": "algorithm not allowed",
    "HS256 with the public key": "algorithm not allowed",
    "HS256 with a secret": "algorithm not allowed",
    "unknown kid": "unknown kid",
    "no kid": "no kid",
    "typ not JWT": "typ is not JWT",
    "jku elsewhere": "jku does not match",
    "signed by another key": "InvalidSignatureError",
    "key of another alg": "alg does not match the key",
    "no jti": "MissingRequiredClaimError",
    "no iat": "MissingRequiredClaimError",
    "no exp": "MissingRequiredClaimError",
    "no aud": "MissingRequiredClaimError",
    "issued in the future": "ImmatureSignatureError",
    "lifetime of a day": "lifetime too long",
    "not a JWT": "not a JWT",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
@pytest.mark.parametrize("path", [DISCOVERY, SIGN, FEEDBACK])
def test_bad_tokens_are_bare_401s(secured, contract, case, path):
    with service_log() as lines:
        assert_bare_401(call(secured, path, BAD_TOKENS[case](path), contract))
    assert any("CDS Hooks token refused" in line and REASONS[case] in line for line in lines), lines


def test_missing_or_non_bearer_authorization_is_401(secured):
    assert_bare_401(call(secured, SIGN, None))
    response = secured.post(SIGN, headers={"Authorization": f"Basic {token()}"}, json={})
    assert_bare_401(response)


def test_replayed_jti_is_refused(secured):
    once = token(SIGN)
    assert call(secured, SIGN, once).status_code == 200
    assert_bare_401(call(secured, SIGN, once))
    assert call(secured, SIGN, token(SIGN)).status_code == 200  # a fresh jti passes


def test_unknown_kid_refetches_the_jwks_so_rotated_keys_work(secured, jwks):
    _, document, seen = jwks
    assert call(secured, SIGN, token(SIGN)).status_code == 200
    fetched = len(seen)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    document["keys"].append(_jwk(new_key, "rsa-2", "RS384"))
    assert call(secured, SIGN, token(SIGN, key=new_key, kid="rsa-2")).status_code == 200
    assert len(seen) == fetched + 1
    assert call(secured, SIGN, token(SIGN, key=new_key, kid="rsa-2")).status_code == 200
    assert len(seen) == fetched + 1  # cached


def test_unknown_kids_do_not_hammer_the_jwks(jwks):
    url, _, seen = jwks
    client = create_app({"TESTING": True, "CDS_TRUSTED_ISSUERS": {ISSUER: url}, "CDS_AUDIENCE": AUDIENCE}).test_client()
    assert call(client, SIGN, token(SIGN)).status_code == 200
    for number in range(5):
        assert_bare_401(call(client, SIGN, token(SIGN, kid=f"random-{number}")))
    assert len(seen) == 1  # the refetch on an unknown kid is rate-limited (30 s by default)


def test_unreachable_jwks_is_401_not_500():
    client = create_app(
        {"TESTING": True, "CDS_TRUSTED_ISSUERS": {ISSUER: "http://127.0.0.1:9/jwks.json"}, "CDS_AUDIENCE": AUDIENCE}
    ).test_client()
    assert_bare_401(call(client, SIGN, token(SIGN)))


def test_tokens_are_never_logged(secured):
    secret_looking = token(SIGN)
    with service_log() as lines:
        call(secured, SIGN, secret_looking)
        call(secured, SIGN, secret_looking)  # replayed: refused and logged as such
        call(secured, SIGN, BAD_TOKENS["wrong issuer"](SIGN))
    logged = "\n".join(lines)
    assert "CDS Hooks token refused: replayed jti" in logged
    assert secret_looking not in logged and secret_looking.split(".")[2] not in logged


def test_trusted_issuers_make_tokens_required_even_with_unsigned_allowed(jwks):
    url, _, _ = jwks
    client = create_app(
        {"TESTING": True, "CDS_TRUSTED_ISSUERS": {ISSUER: url}, "CDS_AUDIENCE": AUDIENCE, "CDS_ALLOW_UNSIGNED": True}
    ).test_client()
    assert_bare_401(call(client, DISCOVERY, None))


def test_issuers_without_an_audience_refuse_every_call(jwks):
    url, _, _ = jwks
    with service_log("service.cds_auth") as lines:
        client = create_app({"TESTING": True, "CDS_TRUSTED_ISSUERS": {ISSUER: url}}).test_client()
    assert any("LDN_CDS_AUDIENCE is not set" in line and '"level": "error"' in line for line in lines)
    assert_bare_401(call(client, DISCOVERY, token(DISCOVERY)))


def test_unconfigured_cds_hooks_is_disabled_and_says_so(contract):
    with service_log("service.cds_auth") as lines:
        client = create_app({"TESTING": True}).test_client()
    # Not configured is a deployment's choice, so a warning naming what to set, not an error.
    assert any(
        "CDS Hooks is not configured" in line and "LDN_CDS_AUDIENCE" in line and '"level": "warning"' in line
        for line in lines
    )
    assert not any('"level": "error"' in line for line in lines)
    for path in (DISCOVERY, SIGN, FEEDBACK):
        assert_bare_401(call(client, path, None, contract))
    assert client.get("/healthz").status_code == 200  # the native API is unaffected


def test_unsigned_development_mode_warns_loudly():
    with service_log("service.cds_auth") as lines:
        client = create_app({"TESTING": True, "CDS_ALLOW_UNSIGNED": True}).test_client()
    assert any("CDS HOOKS SECURITY IS OFF" in line and '"level": "warning"' in line for line in lines)
    assert call(client, DISCOVERY, None).status_code == 200


@pytest.mark.parametrize(
    "value", ["not json", ["https://x"], {"iss": "ftp://x/jwks"}, {"iss": "http://ehr.example/jwks"}]
)
def test_malformed_trusted_issuers_stop_the_start(value):
    with pytest.raises(ValueError):
        create_app({"TESTING": True, "CDS_TRUSTED_ISSUERS": value})


def test_trusted_issuers_from_the_environment(monkeypatch, jwks):
    url, _, _ = jwks
    monkeypatch.setenv("LDN_CDS_TRUSTED_ISSUERS", json.dumps({ISSUER: url}))
    monkeypatch.setenv("LDN_CDS_AUDIENCE", AUDIENCE)
    client = create_app({"TESTING": True}).test_client()
    assert call(client, DISCOVERY, token(DISCOVERY)).status_code == 200
    assert_bare_401(call(client, DISCOVERY, None))


def test_jti_cache_is_bounded_and_expires():
    cache = JtiCache(max_size=3)
    now = 1_000_000.0
    assert all(cache.first_use(("i", str(n)), now + 300, now) for n in range(5))
    assert len(cache._seen) == 3
    assert not cache.first_use(("i", "4"), now + 300, now)
    assert cache.first_use(("i", "4"), now + 300, now + 400)  # expired entries are forgotten


def test_jti_cache_lets_exactly_one_of_many_concurrent_uses_through():
    cache = JtiCache(max_size=1000)
    results = []
    barrier = threading.Barrier(16)

    def use():
        barrier.wait()
        results.append(cache.first_use(("i", "same"), time.time() + 300))

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]


def test_secured_golden_call_still_gives_cards(secured):
    ldn = med_request("ldn", "naltrexone 4.5 mg capsule (compounded)", status="active")
    body = hook_call(
        [med_request("oxy", "oxycodone 5 mg tablet")],
        {"medicationRequests": {"resourceType": "Bundle", "entry": [{"resource": ldn}]}},
    )
    response = secured.post(SIGN, json=body, headers={"Authorization": f"Bearer {token(SIGN)}"})
    assert response.status_code == 200
    assert [c["source"]["topic"]["code"] for c in response.get_json()["cards"]] == ["opioid-use"]
    assert response.get_json()["cards"][0]["suggestions"][0]["actions"][0]["resourceId"] == "MedicationRequest/oxy"


def _configmap():
    import yaml

    path = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes" / "configmap.yaml"
    return yaml.safe_load(path.read_text())["data"]


@pytest.mark.parametrize(
    "audience",
    [None, "https://ldn-safety.example.org/cds-services/"],
    ids=["the shipped ConfigMap", "an audience written with the discovery path"],
)
def test_a_token_signed_for_the_url_the_ehr_calls_is_accepted_with_the_manifests_values(jwks, monkeypatch, audience):
    url, _, _ = jwks
    for name, value in _configmap().items():
        monkeypatch.setenv(name, value)
    if audience:
        monkeypatch.setenv("LDN_CDS_AUDIENCE", audience)
    monkeypatch.setenv("LDN_CDS_TRUSTED_ISSUERS", json.dumps({ISSUER: url}))
    client = create_app({"TESTING": True}).test_client()
    # The EHR signs aud = the service URL it calls: the public host of the deployment + the service path.
    public = urlsplit(_configmap()["LDN_CDS_AUDIENCE"])
    service_url = f"{public.scheme}://{public.netloc}{SIGN}"
    now = int(time.time())
    bearer = jwt.encode(
        {"iss": ISSUER, "aud": service_url, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())},
        RSA_KEY,
        algorithm="RS384",
        headers={"kid": "rsa-1", "typ": "JWT"},
    )
    response = call(client, SIGN, bearer)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_refused_token_is_logged_with_the_request_id_of_its_access_line(secured):
    with service_log("service") as lines:
        response = secured.post(
            SIGN,
            headers={"Authorization": "Bearer not-a-jwt", "X-Request-ID": "req-42-abc"},
            json=hook_call([med_request("x", "lisinopril 10 mg tablet")]),
        )
    assert response.status_code == 401
    refused = [json.loads(line) for line in lines if "cds_auth_refused" in line]
    access = [json.loads(line) for line in lines if '"event": "request"' in line]
    assert refused and all(entry["request_id"] == "req-42-abc" for entry in refused)
    assert access and access[0]["request_id"] == "req-42-abc"
