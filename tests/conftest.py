"""Small fixtures: the app, its test client, and the OpenAPI contract."""

import pytest

from service import create_app
from tests.contract import Contract


@pytest.fixture(scope="session")
def contract():
    """The parsed openapi.yaml with a validator for real responses."""
    return Contract.load()


@pytest.fixture
def app():
    """A fresh app with default settings."""
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def check(client, contract):
    """POST /v1/check and return the JSON, asserting the answer conforms to the contract."""

    def post(body, status=200):
        response = client.post("/v1/check", json=body)
        assert response.status_code == status, response.get_data(as_text=True)
        contract.validate_response("/v1/check", "post", response)
        return response.get_json()

    return post
