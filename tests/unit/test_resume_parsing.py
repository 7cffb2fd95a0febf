"""Resume parsing, as tables: the byte positions a resumable upload's headers carry (`Upload-Offset`,
`Upload-Length`, `Content-Length`) and the Range header a player resumes a video with."""

import pytest
from django.http.request import HttpHeaders

from videos.views_media import BEYOND_ANY_FILE, RangeNotSatisfiable, parse_byte_range
from videos.views_uploads import _header_int

SIZE = 1000
UNSATISFIABLE = RangeNotSatisfiable

RANGES = [
    # (Range header, file size, inclusive (first, last), None for the whole file, or UNSATISFIABLE)
    ("bytes=0-99", SIZE, (0, 99)),
    ("bytes=100-", SIZE, (100, 999)),
    ("bytes=999-999", SIZE, (999, 999)),
    ("bytes=0-5000", SIZE, (0, 999)),  # a last position past the end means the end
    ("bytes=-100", SIZE, (900, 999)),  # the last 100 bytes
    ("bytes=-5000", SIZE, (0, 999)),  # more than there is: all of it
    ("bytes=0-", 1, (0, 0)),
    ("bytes=000000000000000000000000000005-10", SIZE, (5, 10)),  # leading zeros are not digits that count
    ("bytes=0-" + "9" * 5000, SIZE, (0, 999)),  # thousands of digits: past any file, read without int()
    (" bytes = 0 - 9 ", SIZE, (0, 9)),
    ("BYTES=0-9", SIZE, (0, 9)),
    # The whole file: a unit we do not serve, or several ranges (the RFC lets a server send it all).
    ("items=0-9", SIZE, None),
    ("bytes=0-9,20-29", SIZE, None),
    ("", SIZE, None),
    # Unsatisfiable or malformed: 416.
    ("bytes=1000-", SIZE, UNSATISFIABLE),
    ("bytes=1000-2000", SIZE, UNSATISFIABLE),
    ("bytes=5-4", SIZE, UNSATISFIABLE),
    ("bytes=-0", SIZE, UNSATISFIABLE),
    ("bytes=-", SIZE, UNSATISFIABLE),
    ("bytes=", SIZE, UNSATISFIABLE),
    ("bytes=abc", SIZE, UNSATISFIABLE),
    ("bytes=-5-9", SIZE, UNSATISFIABLE),
    ("bytes=0x10-", SIZE, UNSATISFIABLE),
    ("bytes=" + "9" * 5000 + "-", SIZE, UNSATISFIABLE),
    ("bytes=0-", 0, UNSATISFIABLE),  # nothing to send from an empty file
    ("bytes=-1", 0, UNSATISFIABLE),
]


@pytest.mark.parametrize(("header", "size", "expected"), RANGES, ids=[r[0][:40] or "empty" for r in RANGES])
def test_parse_byte_range(header, size, expected):
    if expected is UNSATISFIABLE:
        with pytest.raises(RangeNotSatisfiable):
            parse_byte_range(header, size)
    else:
        assert parse_byte_range(header, size) == expected


def test_a_position_past_any_file_is_one_number():
    assert parse_byte_range("bytes=" + "1" * 30 + "-", BEYOND_ANY_FILE + 1) == (BEYOND_ANY_FILE, BEYOND_ANY_FILE)


def headers(**values: str) -> HttpHeaders:
    """Request headers as Django reads them from the WSGI environment (names match case-insensitively)."""
    return HttpHeaders({f"HTTP_{name.upper()}": value for name, value in values.items()})


class Request:
    def __init__(self, **header_values: str):
        self.headers = headers(**header_values)


BYTE_COUNTS = [
    # (header value, the number it carries, or 400 for a refusal)
    ("0", 0),
    ("42", 42),
    (" 42 ", 42),
    ("007", 7),
    ("9" * 19, int("9" * 19)),
    ("9" * 20, 400),  # past any file, and past the 64-bit columns it is compared with
    ("", 400),
    ("-1", 400),
    ("+5", 400),
    ("4 2", 400),
    ("1e3", 400),
    ("1.0", 400),
    ("0x10", 400),
    ("\u0661\u0662", 400),  # Arabic-Indic digits: int() would read them, the protocol does not
    ("12,34", 400),
]


def http_status(refusal: Exception) -> int | None:
    """The HTTP status the API answers a refusal with."""
    return getattr(refusal, "status_code", None) or getattr(refusal, "status", None)


@pytest.mark.parametrize(("value", "expected"), BYTE_COUNTS, ids=[repr(v)[:24] for v, _ in BYTE_COUNTS])
@pytest.mark.parametrize("name", ["Upload-Offset", "Upload-Length", "Content-Length"])
def test_byte_count_headers(name, value, expected):
    request = Request(**{name.replace("-", "_"): value})
    if expected == 400:
        with pytest.raises(Exception) as refused:
            _header_int(request, name)
        assert http_status(refused.value) == 400
        assert name in str(refused.value.detail if hasattr(refused.value, "detail") else refused.value)
    else:
        assert _header_int(request, name) == expected


def test_a_missing_header_is_none_and_names_match_in_any_case():
    assert _header_int(Request(), "Upload-Offset") is None
    assert _header_int(Request(UPLOAD_OFFSET="12"), "upload-offset") == 12
