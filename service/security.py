"""Security headers on every response, and CORS only where configured."""

from flask import request

# On every response, added with one extend (a set per header scans the headers already there). No view sets any of
# them; tests/test_api.py checks that each is sent exactly once.
STATIC_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("Referrer-Policy", "no-referrer"),
)


def install_security_headers(app):
    """No sniffing, no caching of results, no framing, no server banner; CORS for configured origins only."""
    origins = set(app.config.get("CORS_ORIGINS") or ())

    @app.after_request
    def secure(response):
        headers = response.headers
        headers.extend(STATIC_HEADERS)
        if origins:
            origin = request.headers.get("Origin")
            if origin and origin in origins:
                headers["Access-Control-Allow-Origin"] = origin
                headers["Vary"] = "Origin"
                headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-Request-ID"
                headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response
