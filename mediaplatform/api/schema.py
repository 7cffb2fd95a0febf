"""The OpenAPI schema's view of request bodies: one content type per write, the one the view means.

DRF's default parsers take JSON, form and multipart bodies for every write, and drf-spectacular documents all three;
generated clients then carry three identical body unions (openapi-python-client's do not import). A write that
takes a file is documented as multipart, every other as JSON. Views whose parsers name neither (an octet-stream
chunk upload) keep their own.
"""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

JSON = "application/json"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"


def _takes_a_file(serializer) -> bool:
    if serializer is None:
        return False
    if isinstance(serializer, serializers.ListSerializer):
        serializer = serializer.child
    fields = getattr(serializer, "fields", None)
    if fields is None:
        return False
    for field in fields.values():
        if isinstance(field, serializers.FileField):
            return True
        if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.FileField):
            return True
    return False


class OneBodyTypeAutoSchema(AutoSchema):
    def map_parsers(self):
        media_types = super().map_parsers()
        if not ({JSON, MULTIPART, FORM} & set(media_types)):
            return media_types
        try:
            takes_a_file = _takes_a_file(self.get_request_serializer())
        except Exception:  # a view whose serializer needs a request context: documented as JSON
            takes_a_file = False
        if takes_a_file and MULTIPART in media_types:
            return [MULTIPART]
        if JSON in media_types:
            return [JSON]
        return media_types[:1]


class ApiErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine code: invalid, not_found, invalid_transition, gone ...")
    message = serializers.CharField(help_text="What went wrong, written for the person who asked")
    details = serializers.JSONField(help_text="Per-field messages, or facts a client can act on (state, limits)")


class ApiErrorSerializer(serializers.Serializer):
    """The one body of every refusal (mediaplatform.api.errors)."""

    error = ApiErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    "400": "The request is malformed or a value is out of bounds; `details` names the field.",
    "401": "No valid credentials.",
    "403": "Your role may not do this.",
    "404": "Nothing of that id that you may see.",
    "409": "The action does not fit the current state; `details` lists `state` and `allowed_actions`.",
    "410": "It was deleted.",
    "413": "The body is larger than allowed.",
    "415": "The body's content type is not the one this operation takes.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
    "503": "The database is unavailable; retry after `Retry-After` seconds.",
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class DocumentedErrorsAutoSchema(OneBodyTypeAutoSchema):
    """Every operation documents the error answers the API's exception handler sends, with their body."""

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403", "429", "503"]
        if "{" in self.path:
            codes += ["404", "410"]
        if self.method in WRITE_METHODS:
            codes += ["409", "413", "415"]
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error_body = None
        for code in self._error_codes():
            if code in responses and responses[code].get("content"):
                continue
            if error_body is None:
                error_body = self._get_response_for_code(ApiErrorSerializer, code, direction=direction)["content"]
            responses[code] = {"description": ERROR_DESCRIPTIONS[code], "content": error_body}
        return dict(sorted(responses.items()))
