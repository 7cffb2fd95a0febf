"""COCO detection JSON: one image per frame with detections, category ids = class id + 1 (COCO starts at 1).

Tracked runs carry each annotation's track id in `attributes.track_id` (as CVAT reads it).
"""

import json
from collections.abc import Iterator

from processing.exports.common import frame_size, in_chunks, job_class_names, job_detection_rows
from processing.models import Detection, ProcessingJob


def frame_file_name(frame_index: int) -> str:
    return f"frame_{frame_index:06d}.jpg"


def coco_export(job: ProcessingJob) -> Iterator[bytes]:
    return in_chunks(_pieces(job))


def _pieces(job: ProcessingJob) -> Iterator[str]:
    width, height = frame_size(job)
    names = job_class_names(job)
    header = {
        "info": {
            "description": f"Detections of run {job.pk} ({job.model_name}) on video {job.video_id}",
            "version": "1.0",
        },
        "licenses": [],
        "categories": [{"id": cid + 1, "name": name, "supercategory": ""} for cid, name in names.items()],
    }
    yield json.dumps(header)[:-1] + ', "images": ['
    frames = Detection.objects.filter(job=job).order_by("frame_index").values_list("frame_index", flat=True)
    images = (
        {
            "id": frame_index + 1,
            "file_name": frame_file_name(frame_index),
            "width": width,
            "height": height,
            "frame_index": frame_index,
        }
        for frame_index in frames.distinct().iterator(chunk_size=5000)
    )
    yield from _json_items(images)
    yield '], "annotations": ['
    yield from _json_items(_annotation(row) for row in job_detection_rows(job))
    yield "]}"


def _annotation(row: tuple) -> dict:
    det_id, frame_index, class_id, _name, confidence, track_id, x1, y1, x2, y2 = row
    w, h = max(0.0, x2 - x1), max(0.0, y2 - y1)
    annotation = {
        "id": det_id,
        "image_id": frame_index + 1,
        "category_id": class_id + 1,
        "bbox": [round(x1, 2), round(y1, 2), round(w, 2), round(h, 2)],
        "area": round(w * h, 2),
        "iscrowd": 0,
        "score": round(confidence, 4),
    }
    if track_id is not None:
        annotation["attributes"] = {"track_id": track_id}
    return annotation


def _json_items(items: Iterator[dict]) -> Iterator[str]:
    """The items of a JSON array, comma-separated, without the brackets."""
    for index, item in enumerate(items):
        yield ("" if index == 0 else ", ") + json.dumps(item)
