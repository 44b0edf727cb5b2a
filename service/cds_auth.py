"""CDS Hooks security: the EHR's signed JWT on every call (asymmetric alg, kid, iss, aud, exp, iat, jti replay)."""

import json
import logging
import threading
import time
from urllib.parse import urlsplit

import jwt
import requests
from flask import current_app, request

from service.errors import Unauthorized
from service.replay import JtiCache, ReplayStoreUnavailable, replay_store

__all__ = ["JtiCache", "TokenRejected", "require_cds_auth"]  # JtiCache: the in-process store, re-exported

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset(("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"))
ASYMMETRIC_KEY_TYPES = frozenset(("RSA", "EC"))
LEEWAY_SECONDS = 30  # clock skew between the EHR and us
MAX_LIFETIME_SECONDS = 3600  # the spec's tokens live minutes (Epic: 5); a longer one could be replayed elsewhere
JWKS_MAX_AGE_SECONDS = 3600  # refetch a JWKS at least hourly so removed (revoked) keys stop working
JWKS_MIN_REFRESH_SECONDS = 30  # at most one refetch per JWKS per 30 s, however many unknown kids arrive
JWKS_MAX_BYTES = 256 * 1024
MAX_TOKEN_CHARS = 16_384


DISCOVERY_PATH = "/cds-services"


class TokenRejected(Exception):
    """Why a token was refused, for the log only (the caller gets a bare 401)."""


class JwksCache:
    """Each issuer's signing keys by kid, fetched on first use, refetched hourly and on an unknown kid (rate-limited)."""

    def __init__(self, timeout, min_refresh=JWKS_MIN_REFRESH_SECONDS):
        self.timeout = timeout
        self.min_refresh = min_refresh
        self._sets = {}  # url -> (keys by kid, fetched at)
        self._attempts = {}  # url -> last fetch attempt (successful or not)
        self._lock = threading.Lock()

    def key(self, url, kid):
        """(PyJWK, the alg the JWKS declares for it or None) for kid, or TokenRejected."""
        with self._lock:
            keys, fetched = self._sets.get(url, ({}, 0.0))
            now = time.monotonic()
            stale = now - fetched > JWKS_MAX_AGE_SECONDS
            may_refresh = now - self._attempts.get(url, -1e9) >= self.min_refresh
            if (stale or kid not in keys) and may_refresh:
                self._attempts[url] = now
                try:
                    keys = self._fetch(url)
                    self._sets[url] = (keys, now)
                except TokenRejected:
                    # Keep serving the keys we have while the issuer's JWKS endpoint is down (until stale+retry).
                    log.warning("JWKS fetch failed", extra={"event": "jwks_fetch_failed"})
            if kid not in keys:
                raise TokenRejected("unknown kid")
            return keys[kid]

    def _fetch(self, url):
        try:
            response = requests.get(url, timeout=self.timeout, allow_redirects=False, stream=True)
            try:
                if response.status_code != 200:
                    raise TokenRejected("JWKS fetch status")
                raw = response.raw.read(JWKS_MAX_BYTES + 1, decode_content=True)
            finally:
                response.close()
            document = json.loads(raw) if len(raw) <= JWKS_MAX_BYTES else None
        except (requests.RequestException, ValueError) as error:
            raise TokenRejected("JWKS unreachable") from error
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise TokenRejected("JWKS malformed")
        keys = {}
        for entry in document["keys"]:
            # Only public signing keys: a symmetric ("oct") key must never verify anything.
            if (
                not isinstance(entry, dict)
                or entry.get("kty") not in ASYMMETRIC_KEY_TYPES
                or entry.get("use", "sig") != "sig"
            ):
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str) or not kid or "d" in entry:
                continue
            try:
                keys[kid] = (jwt.PyJWK(entry), entry.get("alg"))
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue
        return keys


def _valid_jwks_url(url):
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))


def trusted_issuers(config):
    """CDS_TRUSTED_ISSUERS as {issuer: JWKS URL}; a malformed value stops the service from starting."""
    value = config.get("CDS_TRUSTED_ISSUERS") or {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError("LDN_CDS_TRUSTED_ISSUERS must be a JSON object: issuer -> JWKS URL") from error
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and _valid_jwks_url(v) for k, v in value.items()
    ):
        raise ValueError("LDN_CDS_TRUSTED_ISSUERS must map each issuer to an https JWKS URL")
    return dict(value)


class CdsAuth:
    """The per-app verifier: configuration, JWKS cache and jti cache."""

    def __init__(self, config):
        self.issuers = trusted_issuers(config)
        audience = config.get("CDS_AUDIENCE")
        self.audience = audience.strip().rstrip("/") if isinstance(audience, str) and audience.strip() else None
        self.audience_trimmed = False
        if self.audience and self.audience.endswith(DISCOVERY_PATH):
            # The base URL is wanted, and the request path is appended to it: a value that already ends in the
            # discovery path would make every correctly signed token a 401.
            self.audience = self.audience.removesuffix(DISCOVERY_PATH).rstrip("/")
            self.audience_trimmed = True
        self.allow_unsigned = config.get("CDS_ALLOW_UNSIGNED") is True
        self.jwks = JwksCache(
            float(config.get("FHIR_TIMEOUT_SECONDS") or 3.0),
            float(config.get("CDS_JWKS_MIN_REFRESH_SECONDS", JWKS_MIN_REFRESH_SECONDS)),
        )
        self.jti = replay_store(config)

    def announce(self):
        """Say at start-up how CDS Hooks calls are secured, loudly when they are not."""
        if self.audience_trimmed:
            log.warning(
                f"LDN_CDS_AUDIENCE ends in {DISCOVERY_PATH}: using the base URL {self.audience}; set it without the "
                "path",
                extra={"event": "cds_auth_config"},
            )
        if self.issuers and not self.audience:
            log.error(
                "LDN_CDS_AUDIENCE is not set: every CDS Hooks call will be refused (401) until it names the public "
                "base URL the EHR calls",
                extra={"event": "cds_auth_config"},
            )
        elif self.issuers:
            log.info(
                f"CDS Hooks calls need a JWT from {len(self.issuers)} trusted issuer(s)",
                extra={"event": "cds_auth_config"},
            )
        elif self.allow_unsigned:
            log.warning(
                "CDS HOOKS SECURITY IS OFF: LDN_CDS_ALLOW_UNSIGNED=true accepts CDS Hooks calls without a JWT. "
                "For local development only; never in production.",
                extra={"event": "cds_auth_config"},
            )
        else:
            # Not configured is a choice (a deployment that only serves the native API), not a failure.
            log.warning(
                "CDS Hooks is not configured: every CDS Hooks call answers 401 until LDN_CDS_TRUSTED_ISSUERS and "
                "LDN_CDS_AUDIENCE are set",
                extra={"event": "cds_auth_config"},
            )

    def verify(self, token, audience, now=None):
        """The verified claims of token for the expected audience, or TokenRejected."""
        now = time.time() if now is None else now
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("token too long")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise TokenRejected("not a JWT") from error
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenRejected("algorithm not allowed")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("no kid")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise TokenRejected("typ is not JWT")
        issuer = unverified.get("iss")
        jwks_url = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if jwks_url is None:
            raise TokenRejected("issuer not trusted")
        # A jku in the header may only name the JWKS we trust for this issuer: we never fetch a caller's URL.
        if "jku" in header and header["jku"] != jwks_url:
            raise TokenRejected("jku does not match the issuer's JWKS")
        key, key_alg = self.jwks.key(jwks_url, kid)
        if key_alg is not None and key_alg != alg:
            raise TokenRejected("alg does not match the key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "strict_aud": False},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenRejected("expired") from error
        except jwt.InvalidAudienceError as error:
            raise TokenRejected("wrong audience") from error
        except jwt.PyJWTError as error:
            raise TokenRejected(f"invalid ({type(error).__name__})") from error
        iat, exp, jti = claims["iat"], claims["exp"], claims["jti"]
        if iat > now + LEEWAY_SECONDS:
            raise TokenRejected("issued in the future")
        if exp - iat > MAX_LIFETIME_SECONDS:
            raise TokenRejected("lifetime too long")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise TokenRejected("bad jti")
        try:
            first = self.jti.first_use((issuer, jti), exp, now)
        except ReplayStoreUnavailable as error:
            # Unable to tell a replay from a first use: refuse, never accept.
            log.error(f"CDS Hooks replay store unavailable: {error}", extra={"event": "cds_replay_store"})
            raise TokenRejected("replay store unavailable") from error
        if not first:
            raise TokenRejected("replayed jti")
        return claims


def init_app(app):
    """Build the app's verifier (a malformed issuer list stops the start) and announce the security mode."""
    auth = CdsAuth(app.config)
    app.extensions["ldn_cds_auth"] = auth
    auth.announce()


def require_cds_auth():
    """Every CDS Hooks call: a valid EHR JWT when issuers are configured; else only in explicit unsigned dev mode."""
    auth = current_app.extensions["ldn_cds_auth"]
    if not auth.issuers:
        if auth.allow_unsigned:
            return None
        log.warning("CDS Hooks call refused: CDS Hooks is not configured", extra={"event": "cds_auth_refused"})
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected("no bearer token")
        if auth.audience is None:
            raise TokenRejected("LDN_CDS_AUDIENCE not set")
        return auth.verify(token.strip(), auth.audience + request.path)
    except TokenRejected as reason:
        # The reason is ours (never the token's text); the caller learns nothing beyond 401.
        log.warning(f"CDS Hooks token refused: {reason}", extra={"event": "cds_auth_refused"})
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"}) from None
