import json
import logging

from audit.context import ActionContext, bound_context
from mediaplatform.logging import JsonFormatter, RequestIdFilter


def test_log_lines_are_json_with_the_request_id_and_extras():
    record = logging.makeLogRecord(
        {
            "name": "processing",
            "levelname": "INFO",
            "levelno": 20,
            "msg": "job %s done",
            "args": ("j1",),
            "job_id": "j1",
        }
    )
    with bound_context(ActionContext(request_id="req-42424242")):
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job j1 done"
    assert line["request_id"] == "req-42424242"
    assert line["job_id"] == "j1" and line["level"] == "INFO" and line["logger"] == "processing"
