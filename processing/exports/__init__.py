"""Exports of a run's detections in the formats other tools read, streamed: nothing is built in memory.

Each exporter is a generator of bytes chunks over `Detection.objects...iterator(chunk_size=...)`; the view wraps
it in a StreamingHttpResponse. Memory stays at one chunk of rows plus one output buffer whatever the run's size.
"""

from processing.exports.coco import coco_export
from processing.exports.mot import mot_export
from processing.exports.yolo import yolo_export

EXPORTERS = {
    "coco": (coco_export, "application/json", "json"),
    "yolo": (yolo_export, "application/zip", "zip"),
    "mot": (mot_export, "text/csv", "csv"),
}

__all__ = ["EXPORTERS", "coco_export", "mot_export", "yolo_export"]
