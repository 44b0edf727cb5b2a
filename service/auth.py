"""Authentication: an optional shared secret for the native API (CDS Hooks JWTs live in service.cds_auth)."""

import hmac

from flask import current_app, request

from service.errors import Unauthorized


def api_key_accepted():
    """True when no LDN_API_KEY is set, or the request carries `Authorization: Bearer <key>` (constant time)."""
    expected = current_app.config.get("API_KEY")
    if not expected:
        return True
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), str(expected).encode())


def require_native_auth():
    """When LDN_API_KEY is set, the native API needs `Authorization: Bearer <key>`."""
    if not api_key_accepted():
        raise Unauthorized("A valid API key is required.", headers={"WWW-Authenticate": 'Bearer realm="ldn-safety"'})
