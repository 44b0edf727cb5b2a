"""The one check every door runs: a native request in, validated, checked, observed; the outcome out.

The native API, the try-it page, CDS Hooks and the batch command are adapters around `Pipeline.check`: each
translates its input into a native request body and renders the outcome (or the validation error) its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from schemas.check import CheckRequestSchema
from service.checker import Checker, CheckResult
from service.errors import ServiceUnavailable

Observer = Callable[[CheckResult], None]


@dataclass(frozen=True)
class Outcome:
    """One check: the validated request, the result and which knowledge answered."""

    request: dict[str, Any]
    result: CheckResult
    ruleset: dict[str, str]


class Pipeline:
    """Validate a native request body, check it, and tell the observers (logs, metrics) what was found."""

    def __init__(self, checker: Checker, max_medications: int, observers: Iterable[Observer] = ()) -> None:
        self.checker = checker
        # Building a marshmallow schema costs more than loading with it: one per pipeline.
        self.schema = CheckRequestSchema(max_medications)
        self.observers: list[Observer] = list(observers)

    def observe(self, observer: Observer) -> None:
        """Add an observer; it sees every result after the ones added before it."""
        self.observers.append(observer)

    def validate(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request through the native schema; raises marshmallow.ValidationError for the door to render."""
        return self.schema.load(body)

    def check(self, body: dict[str, Any]) -> Outcome:
        """Validate and check one native request body."""
        return self.check_validated(self.validate(body))

    def check_validated(self, request: dict[str, Any]) -> Outcome:
        """Check a request already validated with this pipeline's schema."""
        result = self.checker.check(request)
        for observer in self.observers:
            observer(result)
        return Outcome(request=request, result=result, ruleset=self.checker.ruleset)


def current_pipeline() -> Pipeline:
    """The app's pipeline, or 503 when the knowledge failed to load (never a check that knows nothing)."""
    pipeline = current_app.extensions.get("ldn_pipeline")
    if pipeline is None:
        raise ServiceUnavailable("The medication vocabulary or rules are not loaded; see the service log.")
    return pipeline
