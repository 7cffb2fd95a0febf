"""json_loads_bounded: the nesting measured as the parser would meet it, strings and escapes included."""

import json

import pytest

from mediaplatform.json_input import JSON_MAX_DEPTH, JSONInputRefused, json_loads_bounded, json_nesting_depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "]]]]"]', 1),
        ('["\\"[[[[", "]"]', 1),
        ('["\\\\", [[]]]', 3),
        ('{"a\\\\\\"[": [[]]}', 3),
        ("[" * 10 + "]" * 10, 10),
    ],
)
def test_nesting_is_measured_outside_strings(text, depth):
    assert json_nesting_depth(text) == depth
    assert json_loads_bounded(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1),
        "[" * 100_000,  # never closed
        '{"a":' * 100_000,
        '["\\\\"' + ", [" * 100_000,  # an escaped backslash does not hide what follows the string
        '["]]]]]]]]]]", ' + "[" * 100_000 + "]" * 100_000 + "]",
    ],
)
def test_anything_deeper_than_the_limit_is_refused_before_parsing(text):
    with pytest.raises(JSONInputRefused, match="nested deeper"):
        json_loads_bounded(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" + "9" * 5000 + "]", "too long"),
        ("[1e400]", "too large"),
        ("[-1e400]", "too large"),
        ("[NaN]", "not a JSON number"),
        ("[Infinity]", "not a JSON number"),
        ('{"a": 1', "Not valid JSON"),
        (b"\xff[]", "not UTF-8"),
    ],
)
def test_numbers_and_text_json_cannot_hold_are_refused(text, words):
    with pytest.raises(JSONInputRefused, match=words):
        json_loads_bounded(text)


def test_the_limit_itself_is_accepted_and_a_parse_int_hook_sees_the_literal():
    at_limit = "[" * JSON_MAX_DEPTH + "7" + "]" * JSON_MAX_DEPTH
    assert json_nesting_depth(at_limit) == JSON_MAX_DEPTH
    assert json_loads_bounded(at_limit, parse_int=lambda literal: f"int:{literal}") is not None
    assert json_loads_bounded("[12]", parse_int=lambda literal: f"int:{literal}") == ["int:12"]
