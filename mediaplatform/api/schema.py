"""The OpenAPI schema's view of request bodies: one content type per write, the one the view means.

DRF's default parsers take JSON, form and multipart bodies for every write, and drf-spectacular documents all three;
generated clients then carry three identical body unions (openapi-python-client's do not import). A write that
takes a file is documented as multipart, every other as JSON. Views whose parsers name neither (an octet-stream
chunk upload) keep their own.
"""

from django.conf import settings
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
    "404": "Nothing of that id that you may see (for a list: no such page).",
    "409": "The action does not fit the current state; `details` lists `state` and `allowed_actions`.",
    "410": "It was deleted.",
    "412": "A required protocol header is missing or names a version this server does not speak.",
    "413": "The body is larger than allowed.",
    "415": "The body's content type is not the one this operation takes.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
    "503": "The database is unavailable; retry after `Retry-After` seconds.",
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _link(operation_id: str, **parameters: str) -> dict:
    return {"operationId": operation_id, "parameters": parameters}


def _links_to(parameter: str, expression: str, *operation_ids: str) -> dict:
    return {operation_id: _link(operation_id, **{parameter: expression}) for operation_id in operation_ids}


# OpenAPI links from what a create answers to the operations on what it created: clients (and a stateful
# schemathesis run) follow them from a new video to its runs, from a new run to its detections, and so on.
VIDEO_OPERATIONS = (
    "v1_videos_retrieve",
    "v1_videos_partial_update",
    "v1_videos_destroy",
    "v1_videos_jobs_list",
    "v1_videos_jobs_create",
    "v1_videos_errors_list",
    "v1_videos_detections_list",
    "v1_videos_cancel_create",
    "v1_videos_retry_create",
    "v1_videos_archive_create",
)
JOB_OPERATIONS = (
    "v1_jobs_retrieve",
    "v1_jobs_partial_update",
    "v1_jobs_destroy",
    "v1_jobs_detections_list",
    "v1_jobs_detections_summary_retrieve",
)
RESPONSE_LINKS = {
    "v1_videos_create": _links_to("video_id", "$response.body#/id", *VIDEO_OPERATIONS),
    "v1_videos_import_create": _links_to("video_id", "$response.body#/id", *VIDEO_OPERATIONS),
    "v1_videos_jobs_create": _links_to("job_id", "$response.body#/id", *JOB_OPERATIONS),
    "v1_uploads_create": _links_to("upload_id", "$response.body#/id", "v1_uploads_retrieve", "v1_uploads_destroy"),
    "v1_api_keys_create": _links_to("key_id", "$response.body#/id", "v1_api_keys_retrieve", "v1_api_keys_destroy"),
    "v1_webhooks_create": _links_to(
        "endpoint_id",
        "$response.body#/id",
        "v1_webhooks_retrieve",
        "v1_webhooks_destroy",
        "v1_webhooks_deliveries_list",
    ),
    "v1_models_install_create": _links_to("install_id", "$response.body#/id", "v1_models_installs_retrieve"),
    "media_analyze_create": _links_to(
        "analysis_id", "$response.body#/analysis_id", "media_status_retrieve", "media_destroy"
    ),
}


class MultipartNullsAutoSchema(OneBodyTypeAutoSchema):
    """A multipart form cannot send a JSON null: a nullable field there is left empty or out, so the form's
    schema does not offer null (DRF reads a blank nullable field as null)."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        # A serializer that takes a file is documented as multipart (OneBodyTypeAutoSchema).
        if direction == "request" and _takes_a_file(getattr(field, "parent", None)):
            meta.pop("nullable", None)
        return meta


class FormLimitsAutoSchema(MultipartNullsAutoSchema):
    """What a multipart form can carry: Django refuses a form of more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields
    (400), and a list is one field per item, so a list in a form is documented with room for the other fields.
    A PATCH whose body is bytes (a chunk upload) requires them."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
        ):
            # DRF's text fields refuse NUL characters, and trim the text before their blank check: whitespace
            # alone is blank, which minLength does not say.
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema["pattern"] = r"^[^\x00]*[^\s\x00][^\x00]*$" if blank_refused else r"^[^\x00]*$"
        parent = getattr(field, "parent", None)
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        if direction == "request" and limit and schema.get("type") == "array" and _takes_a_file(parent):
            room = max(1, limit - len(parent.fields))
            schema["maxItems"] = min(schema.get("maxItems", room), room)
        return schema

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body and self.method == "PATCH":
            schemas = [media.get("schema", {}) for media in body.get("content", {}).values()]
            if schemas and all(schema.get("format") == "binary" for schema in schemas):
                body["required"] = True
        return body


class DocumentedErrorsAutoSchema(FormLimitsAutoSchema):
    """Every operation documents the error answers the API's exception handler sends, with their body; blank
    optional query values read as absent (`allowEmptyValue`); creates link to what acts on what they made."""

    def _get_request_for_media_type(self, serializer, direction="request"):
        # drf-spectacular documents every PATCH body as partial (all fields optional). A view that reads its
        # PATCH body whole (a rename needs its title) marks its serializer `whole_on_patch`: documented as sent.
        if self.method == "PATCH" and getattr(serializer, "whole_on_patch", False):
            self.method = "PUT"
            try:
                return super()._get_request_for_media_type(serializer, direction)
            finally:
                self.method = "PATCH"
        return super()._get_request_for_media_type(serializer, direction)

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            # Django and DRF read `?status=` as no filter, and every view here does the same.
            # A blank list is not an absent one (`?classes=` names one blank class): lists are left out.
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and not parameter.get("required") and schema.get("type") != "array":
                parameter["allowEmptyValue"] = True
        return parameters

    def _is_paginated_list(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403", "429", "503"]
        if "{" in self.path:
            codes += ["404", "410"]
        elif self._is_paginated_list():
            codes.append("404")  # a page past the last, or a cursor that is not ours
        if self.method in WRITE_METHODS:
            codes += ["409", "413", "415"]
        if getattr(self.view, "precondition_headers", ()):
            codes.append("412")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error_body = None
        # The handler's codes, and any other error a view names without a body (`{422: None}`): all get it.
        named = [code for code, response in responses.items() if code[:1] in "45" and not response.get("content")]
        for code in sorted(set(self._error_codes()) | set(named)):
            if code in responses and responses[code].get("content"):
                continue
            if error_body is None:
                error_body = self._get_response_for_code(ApiErrorSerializer, code, direction=direction)["content"]
            description = (responses.get(code) or {}).get("description") or ERROR_DESCRIPTIONS.get(code, "")
            responses[code] = {"description": description, "content": error_body}
        if direction == "response":
            self._add_links(responses)
        return dict(sorted(responses.items()))

    def _add_links(self, responses: dict) -> None:
        links = RESPONSE_LINKS.get(self.get_operation_id())
        if not links:
            return
        success = [code for code in responses if code.startswith("2")]
        for code in success[:1]:
            responses[code] = {**responses[code], "links": links}
