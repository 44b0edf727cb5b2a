"""The schemas' present-fields loop (schemas.check.StrictSchema) loads and refuses exactly as marshmallow's own."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from schemas.check import CheckRequestSchema, StrictSchema
from tests.strategies import check_request

CASES = sorted((Path(__file__).resolve().parent / "cases").glob("*/*.json"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def outcome(body):
    """What one fresh schema makes of a body: the loaded data, or the error messages."""
    try:
        return "loaded", CheckRequestSchema(500).load(body)
    except ValidationError as error:
        return "refused", error.messages


def both(body):
    """The body through the project's loop, then through marshmallow's stock loop."""
    ours = outcome(json.loads(json.dumps(body)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StrictSchema, "_deserialize", Schema._deserialize)
        stock = outcome(json.loads(json.dumps(body)))
    return ours, stock


def nodes(value, path=()):
    """Every object in a JSON value, with its path."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


@st.composite
def broken_request(draw):
    """A realistic request with one object damaged: a key dropped, an unknown key added, or a value replaced."""
    body = draw(check_request())
    _, target = draw(st.sampled_from(list(nodes(body))))
    how = draw(st.sampled_from(("drop", "add", "replace")))
    if how == "add" or not target:
        target[draw(st.sampled_from(("nmae", "dose_mg", "extra", "")))] = draw(JSON)
    else:
        key = draw(st.sampled_from(sorted(target)))
        if how == "drop":
            del target[key]
        else:
            target[key] = draw(JSON)
    return body


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_requests_load_the_same(path):
    ours, stock = both(json.loads(path.read_text())["request"])
    assert ours == stock


@settings(max_examples=300, deadline=None)
@given(body=check_request())
def test_valid_requests_load_the_same(body):
    ours, stock = both(body)
    assert ours == stock
    assert ours[0] == "loaded"


@settings(max_examples=600, deadline=None)
@given(body=broken_request())
def test_broken_requests_are_refused_the_same(body):
    ours, stock = both(body)
    assert ours == stock


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"medications": [{}]},
        {"medications": [{"name": "x", "dose": {}}]},
        {"medications": [{"name": "x", "codes": [{"code": "1"}]}]},
        {"medications": [{"name": "x", "bogus": 1}], "patient": {"upcoming_procedures": [{}]}},
        {"medications": "oxycodone"},
        {"medications": [None, 3, "x"]},
    ],
)
def test_required_and_unknown_fields_are_reported_the_same(body):
    ours, stock = both(body)
    assert ours == stock
    assert ours[0] == "refused"
