"""Check real responses against openapi.yaml, so the document and the service cannot drift apart."""

from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"


@dataclass
class Contract:
    """The OpenAPI document and schema validation against it."""

    document: dict

    @classmethod
    def load(cls):
        """Parse openapi.yaml."""
        return cls(yaml.safe_load(OPENAPI.read_text(encoding="utf-8")))

    def schema(self, pointer):
        """A validator for '#/components/…' (or any JSON pointer) with the document as its root."""
        root = {"$ref": pointer, "components": self.document.get("components", {})}
        return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())

    def validate(self, pointer, instance):
        """Raise if the instance does not match the schema at pointer."""
        self.schema(pointer).validate(instance)

    def response_schema(self, path, method, status, content_type):
        """The documented schema of a response, following response $refs."""
        operation = self.document["paths"][path][method]
        responses = operation["responses"]
        response = responses.get(str(status)) or responses.get("default")
        assert response is not None, f"{method.upper()} {path} does not document status {status}"
        if "$ref" in response:
            response = self.document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        content = response.get("content", {})
        assert content_type in content, f"{method.upper()} {path} {status}: {content_type} not documented"
        return content[content_type]["schema"]

    def validate_response(self, path, method, response):
        """Validate a Flask test response (status, content type and body) against the document."""
        content_type = response.mimetype
        schema = self.response_schema(path, method, response.status_code, content_type)
        if content_type.endswith("json"):
            root = dict(schema)
            root["components"] = self.document.get("components", {})
            jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker()).validate(
                response.get_json()
            )
