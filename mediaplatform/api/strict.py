"""JSON bodies taken with the types the schema documents.

DRF's fields coerce: a CharField takes `0` as "0", a BooleanField takes `"yes"` and `1`, an IntegerField takes
`"7"` and `7.0`, a UUIDField takes `false` (as the UUID of the integer 0). For a form every value is text and
that coercion is the point; for a JSON body it means a request the schema says is malformed (`"title": 0`) is
stored as if it were not, and a client bug goes unnoticed. A serializer with this mixin refuses a JSON value
of the wrong type with 400 naming the field; form and multipart data (QueryDicts) are read as before.
"""

from django.utils.datastructures import MultiValueDict
from rest_framework import serializers

_TEXT_FIELDS = (
    serializers.CharField,
    serializers.UUIDField,
    serializers.DateTimeField,
    serializers.DateField,
    serializers.TimeField,
    serializers.DurationField,
)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_type_errors(field: serializers.Field, value):
    """What is wrong with the type of `value` for `field` (a message, or nested messages), or None."""
    if value is None:
        return None  # the field itself says whether null is allowed
    if isinstance(field, serializers.ListSerializer):
        if not isinstance(value, list):
            return "Expected a list."
        return _errors_in_items(field.child, value)
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, dict):
            return "Expected an object."
        return fields_type_errors(field.fields, value) or None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Expected true or false."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Expected a whole number."
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return None if _is_number(value) else "Expected a number."
    if isinstance(field, serializers.MultipleChoiceField):
        return None if isinstance(value, list) else "Expected a list."
    if isinstance(field, serializers.ChoiceField):
        if all(isinstance(choice, str) for choice in field.choices):
            return None if isinstance(value, str) else "Expected a string."
        return None
    if isinstance(field, _TEXT_FIELDS):
        return None if isinstance(value, str) else "Expected a string."
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return "Expected a list."
        return _errors_in_items(field.child, value)
    if isinstance(field, serializers.DictField):
        if not isinstance(value, dict):
            return "Expected an object."
        errors = {key: json_type_errors(field.child, item) for key, item in value.items()}
        return {key: error for key, error in errors.items() if error} or None
    return None  # JSONField and the like take any JSON value


def _errors_in_items(child: serializers.Field, items: list):
    errors = {index: json_type_errors(child, item) for index, item in enumerate(items)}
    return {index: error for index, error in errors.items() if error} or None


def fields_type_errors(fields, data: dict) -> dict:
    errors = {}
    for field in fields.values():
        if field.read_only or field.field_name not in data:
            continue
        error = json_type_errors(field, data[field.field_name])
        if error:
            errors[field.field_name] = [error] if isinstance(error, str) else error
    return errors


def is_json_object(data) -> bool:
    return isinstance(data, dict) and not isinstance(data, MultiValueDict)


# Refuses JSON values whose type is not the field's (see the module docstring). No docstring: drf-spectacular
# would give it as the description of every serializer that has none of its own.
class StrictJsonTypesMixin:
    def to_internal_value(self, data):
        if is_json_object(data):
            errors = fields_type_errors(self.fields, data)
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
