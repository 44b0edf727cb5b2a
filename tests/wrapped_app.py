"""A test-only WSGI module for gunicorn: the REAL production app, plus two test hooks that never ship.

- `X-Test-Delay: <seconds>` on any request sleeps in the worker before the real app answers, so a test can
  make a request really outlast gunicorn's worker timeout (LDN_TIMEOUT) without a slow route in the service.
- `LDN_TEST_FAULTY_RULE=1` installs a real Checker with one extra real rule whose clause matches every
  request and whose explanation raises, so the check must fail as a whole (500), never lose alerts.

Run as `gunicorn -c gunicorn.conf.py tests.wrapped_app:app` (tests/servers.py running_gunicorn(app=...)).
"""

import os
import time

from durable.lang import m

from rules.base import Clause, Rule
from rules.catalogue import RULES
from rules.references import LDN_GUIDANCE
from service import create_app

FAULT_MESSAGE = "deliberate fault in a rule explanation"


def _explode(findings, context):
    raise RuntimeError(FAULT_MESSAGE)


FAULTY_RULE = Rule(
    id="TEST-FAULT-001",
    code="test-fault",
    severity="info",
    summary="A test rule whose explanation raises.",
    guideline="none (test only)",
    when="always",
    then="raise",
    clauses=(Clause("always", lambda: ((m.kind == "patient"),)),),
    references=(LDN_GUIDANCE,),
    explain=_explode,
)


def faulty_checker(vocabulary_path=None):
    """A real Checker over the real rules plus the faulty one."""
    from service.checker import Checker

    return Checker(vocabulary_path, rules=(*RULES, FAULTY_RULE))


real_app = create_app()
if os.environ.get("LDN_TEST_FAULTY_RULE") == "1":
    real_app.extensions["ldn_pipeline"].checker = faulty_checker(real_app.config["VOCABULARY_PATH"])


def app(environ, start_response):
    """The real app, after an optional test delay."""
    delay = environ.get("HTTP_X_TEST_DELAY")
    if delay:
        time.sleep(float(delay))
    return real_app(environ, start_response)
