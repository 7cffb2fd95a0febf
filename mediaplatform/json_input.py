"""JSON from outside (request bodies, uploaded files, form fields) parsed with its nesting depth capped.

Python's json module recurses once per nested array or object, so a body of 100,000 `[` raises RecursionError
(a 500) long before anything could refuse it. `json_loads_bounded` measures the nesting first, in a few passes
of C code over the text, and refuses anything deeper than JSON_MAX_DEPTH with JSONInputRefused, a ValueError
carrying a message fit for the client. Numbers that are not finite (`1e400`, `NaN`, `Infinity`) are refused
too: no column and no JSON document stored in PostgreSQL can hold them.
"""

import json
import math
import re
import sys
from collections.abc import Callable
from itertools import accumulate
from typing import Any

# Far deeper than any document this platform reads (a COCO file is 4 levels deep), far shallower than the
# interpreter's recursion limit.
JSON_MAX_DEPTH = 64

# A JSON string, escapes included ("unrolled loop" form: no backtracking per character).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_CHANGE = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONInputRefused(ValueError):
    """The text is not JSON this platform accepts; the message says why, `line` where, when known."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


def json_nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (strings skipped), reading it as JSON does.

    For text that is not valid JSON the figure is an upper bound of how deep a parser gets before it fails.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DEPTH_CHANGE.__getitem__, brackets)), default=0)


def _refuse_constant(name: str):
    raise JSONInputRefused(f"{name} is not a JSON number.")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JSONInputRefused(f"The number {literal[:40]} is too large.")
    return value


def json_loads_bounded(
    text: str | bytes,
    *,
    max_depth: int = JSON_MAX_DEPTH,
    parse_int: Callable[[str], Any] | None = None,
) -> Any:
    """`json.loads` for untrusted text; raises JSONInputRefused (a ValueError) for anything it will not read.

    `parse_int` receives each integer literal as text, as in `json.loads`; by default it is `int`, which
    refuses literals over Python's 4,300 digits.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputRefused(f"The JSON is not UTF-8 (byte {exc.start} cannot be read).")
    # Text with fewer opening brackets than the limit cannot nest deeper; most bodies stop here.
    if text.count("[") + text.count("{") > max_depth and json_nesting_depth(text) > max_depth:
        raise JSONInputRefused(f"The JSON is nested deeper than {max_depth} levels.")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=parse_int)
    except JSONInputRefused:
        raise
    except json.JSONDecodeError as exc:
        raise JSONInputRefused(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.", line=exc.lineno
        ) from exc
    except ValueError as exc:  # int() refuses a literal of more than sys.get_int_max_str_digits() digits
        raise JSONInputRefused(
            f"The JSON holds a number too long to read (over {sys.get_int_max_str_digits():,} digits)."
        ) from exc
