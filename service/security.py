"""Security headers on every response, and CORS only where configured."""

from flask import request


def install_security_headers(app):
    """No sniffing, no caching of results, no framing, no server banner; CORS for configured origins only."""
    origins = set(app.config.get("CORS_ORIGINS") or ())

    @app.after_request
    def secure(response):
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cache-Control"] = "no-store"
        headers["X-Frame-Options"] = "DENY"
        headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers["Referrer-Policy"] = "no-referrer"
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
            headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-Request-ID"
            headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response
