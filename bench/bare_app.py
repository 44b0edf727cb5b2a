"""The ceiling: a bare Flask app at the same path that parses the same JSON body and answers a fixed document.

Served exactly like the service: `gunicorn -c gunicorn.conf.py bench.bare_app:app`.
"""

from flask import Flask, jsonify, request

app = Flask(__name__)
_ANSWER = {"alerts": [], "ok": True}


@app.post("/v1/check")
def check():
    body = request.get_json()
    if not isinstance(body, dict):
        return jsonify({"error": "not an object"}), 400
    return jsonify(_ANSWER)


@app.get("/readyz")
def readyz():
    return jsonify({"status": "ready"})
