"""A CDS Hooks token is accepted once: across the workers of a pod (SQLite) and across replicas (a real Redis)."""

import json
import shutil
import subprocess
import time
import uuid

import jwt
import pytest

from service import create_app
from service.replay import JtiCache, RedisJtiStore, SqliteJtiStore
from tests.servers import free_port, request, running_gunicorn
from tests.test_cds_auth import AUDIENCE, ISSUER, RSA_KEY, SIGN, call, jwks  # noqa: F401  (jwks is a fixture)
from tests.test_cds_hooks import hook_call, med_request


def bearer(path=SIGN):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, RSA_KEY, algorithm="RS384", headers={"kid": "rsa-1", "typ": "JWT"})


def app_with(jwks_url, **store):
    config = {"TESTING": True, "CDS_TRUSTED_ISSUERS": {ISSUER: jwks_url}, "CDS_AUDIENCE": AUDIENCE, **store}
    return create_app(config).test_client()


@pytest.mark.parametrize(
    "store", [lambda tmp: JtiCache(10), lambda tmp: SqliteJtiStore(str(tmp / "jti.sqlite3"))], ids=["memory", "sqlite"]
)
def test_a_store_accepts_a_key_once_until_it_expires(tmp_path, store):
    seen = store(tmp_path)
    now = time.time()
    assert seen.first_use(("iss", "a"), now + 60, now) is True
    assert seen.first_use(("iss", "a"), now + 60, now) is False
    assert seen.first_use(("other", "a"), now + 60, now) is True  # per issuer
    assert seen.first_use(("iss", "a"), now + 60, now + 1000) is True  # long after expiry it may be reused


def test_two_workers_sharing_the_sqlite_file_refuse_a_replay(jwks, tmp_path):  # noqa: F811
    url, _, _ = jwks
    path = str(tmp_path / "jti.sqlite3")
    first, second = app_with(url, CDS_JTI_DB=path), app_with(url, CDS_JTI_DB=path)
    token = bearer()
    assert call(first, SIGN, token).status_code == 200
    assert call(second, SIGN, token).status_code == 401


def test_a_replay_against_a_two_worker_gunicorn_is_refused_every_time(jwks, tmp_path):  # noqa: F811
    url, _, _ = jwks
    env = {
        "LDN_CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: url}),
        "LDN_CDS_AUDIENCE": AUDIENCE,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    body = hook_call([med_request("x", "lisinopril 10 mg tablet")])
    with running_gunicorn(env, workers=2) as (base, _process):
        token = bearer()
        statuses = [request(base, SIGN, body, headers={"Authorization": f"Bearer {token}"})[0] for _ in range(20)]
    assert statuses[0] == 200 and statuses[1:] == [401] * 19, statuses


@pytest.fixture
def redis_server():
    """A real redis-server on a free port (no persistence); yields its URL and a stop function."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): the Redis store is not tested")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            RedisJtiStore(url).first_use(("probe", str(uuid.uuid4())), time.time() + 5)
            break
        except Exception:  # not listening yet
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)

    def stop():
        process.terminate()
        process.wait(timeout=10)

    try:
        yield url, stop
    finally:
        if process.poll() is None:
            stop()


def test_replicas_sharing_redis_refuse_a_replay_and_refuse_everything_when_it_is_down(jwks, redis_server):  # noqa: F811
    url, _, _ = jwks
    redis_url, stop = redis_server
    first, second = app_with(url, CDS_JTI_STORE=redis_url), app_with(url, CDS_JTI_STORE=redis_url)
    token = bearer()
    assert call(first, SIGN, token).status_code == 200
    assert call(second, SIGN, token).status_code == 401
    stop()
    assert call(first, SIGN, bearer()).status_code == 401  # cannot tell a replay from a first use: refused
