"""Integer input bounded by the database column it ends up in.

A number the column cannot hold (a `start_frame` of 10^12 in a PositiveIntegerField) failed at the INSERT
with IntegrityError or DataError, a 500, after the request had been accepted. The bounds come from the model
field itself (PositiveIntegerField: 0 to 2^31 - 1 on PostgreSQL), so a field and its input cannot drift apart.
"""

from django.db import connection, models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# An http(s) URL with a dotted host name ending in a top-level domain of letters: the subset of what Django's
# URLValidator and the platform's URL checks take that the schema documents, so a URL generated from the schema
# is one the API takes (whether its host resolves to a public address is checked when it is used).
# At most four labels of at most 61 characters: the host stays within the 253 a host name may have.
HTTP_URL_PATTERN = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,59}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,61}(/[!-~]*)?$"
HTTP_URL_SCHEMA = {"type": "string", "maxLength": 2000, "pattern": HTTP_URL_PATTERN}


@extend_schema_field(HTTP_URL_SCHEMA)
class HttpUrlTextField(serializers.CharField):
    """Text, checked by the service that fetches it; documented as an http(s) URL."""


@extend_schema_field(HTTP_URL_SCHEMA)
class HttpUrlField(serializers.URLField):
    """A URLField documented as an http(s) URL."""


def column_integer_range(model: type[models.Model], field_name: str) -> tuple[int, int]:
    """The smallest and largest value the model field's column holds."""
    field = model._meta.get_field(field_name)
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    if low is None or high is None:
        raise TypeError(f"{model.__name__}.{field_name} is not an integer column.")
    return low, high


def column_integer_field(
    model: type[models.Model], field_name: str, *, min_value: int | None = None, max_value: int | None = None, **kwargs
) -> serializers.IntegerField:
    """A serializer IntegerField taking only what `model.field_name` can store (narrowed further by the bounds
    given); a value outside answers 400 naming the field, before anything is stored."""
    low, high = column_integer_range(model, field_name)
    return serializers.IntegerField(
        min_value=low if min_value is None else max(low, min_value),
        max_value=high if max_value is None else min(high, max_value),
        **kwargs,
    )


def bounded_integer(text: str, bounds: tuple[int, int]) -> int | None:
    """`text` as an integer within `bounds`, or None when it is not a plain decimal integer or lies outside.

    int() is never given more digits than the bounds have: converting thousands of digits is slow, and past
    4,300 it raises ValueError.
    """
    text = text.strip()
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits.lstrip("0")) > max(len(str(abs(bound))) for bound in bounds):
        return None
    value = int(text)
    return value if bounds[0] <= value <= bounds[1] else None
