"""Flask's JSON through orjson: the response bodies are the largest thing the service writes per request."""

from __future__ import annotations

from typing import Any, cast

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS  # keys stay in insertion order: the contract lists fields in that order


class OrjsonProvider(DefaultJSONProvider):
    """dumps/response with orjson; anything orjson cannot encode (dates, decimals) goes through Flask's default, and
    what it refuses outright (an integer beyond 64 bits echoed from a caller) through the standard library."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()
        except TypeError:
            return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=_OPTIONS) + b"\n"
        except TypeError:
            return super().response(obj)
        return cast(Any, self._app.response_class)(body, mimetype=self.mimetype)
