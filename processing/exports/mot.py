"""MOT Challenge CSV: frame (1-based), id (track id, -1 when untracked), left, top, width, height, conf, x, y, z."""

from collections.abc import Iterator

from processing.exports.common import in_chunks, job_detection_rows
from processing.models import ProcessingJob


def mot_export(job: ProcessingJob) -> Iterator[bytes]:
    return in_chunks(_lines(job))


def _lines(job: ProcessingJob) -> Iterator[str]:
    for _id, frame_index, _cid, _name, confidence, track_id, x1, y1, x2, y2 in job_detection_rows(job):
        yield (
            f"{frame_index + 1},{track_id if track_id is not None else -1},"
            f"{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{confidence:.4f},-1,-1,-1\n"
        )
