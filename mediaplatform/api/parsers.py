"""The API's JSON parser: DRF's, with the nesting depth capped (mediaplatform/json_input.py).

It is the default parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]); a view that lists its parsers names it
instead of DRF's JSONParser, which recurses once per nesting level: a deep body raised RecursionError, a 500.
The size limit stays Django's: DRF hands a JSON parser `request.body`, which refuses a body over
DATA_UPLOAD_MAX_MEMORY_SIZE before any parser runs.
"""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from mediaplatform.json_input import JSONInputRefused, json_loads_bounded


class BoundedJSONParser(JSONParser):
    """application/json bodies at most JSON_MAX_DEPTH levels deep, with finite numbers only."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_bounded(stream.read().decode(encoding))
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"JSON parse error - the body is not {encoding} text.")
        except JSONInputRefused as exc:
            raise ParseError(f"JSON parse error - {exc.message}")
