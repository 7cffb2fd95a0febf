"""Integer input bounded by the database column it ends up in.

A number the column cannot hold (a `start_frame` of 10^12 in a PositiveIntegerField) failed at the INSERT
with IntegrityError or DataError, a 500, after the request had been accepted. The bounds come from the model
field itself (PositiveIntegerField: 0 to 2^31 - 1 on PostgreSQL), so a field and its input cannot drift apart.
"""

from django.db import connection, models
from rest_framework import serializers


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
