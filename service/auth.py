"""Authentication: an optional shared secret for the native API (CDS Hooks JWTs live in service.cds_auth)."""

import hmac

from flask import current_app, request

from service.errors import Unauthorized


def require_native_auth():
    """When LDN_API_KEY is set, the native API needs `Authorization: Bearer <key>` (compared in constant time)."""
    expected = current_app.config.get("API_KEY")
    if not expected:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, supplied = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), str(expected).encode()):
        raise Unauthorized("A valid API key is required.", headers={"WWW-Authenticate": 'Bearer realm="ldn-safety"'})
