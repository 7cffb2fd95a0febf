"""Writing detections in bulk with PostgreSQL COPY."""

from collections.abc import Iterable, Iterator, Sequence

from django.db import connection

from mediaplatform.sql import sql_column, sql_table
from processing.detector import FrameDetections
from processing.frames import SampledFrame
from processing.models import Detection

# The fields a COPY row holds, in order; their columns come from the model.
DETECTION_COPY_FIELDS = (
    "job",
    "frame_index",
    "timestamp_seconds",
    "class_id",
    "class_name",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "track_id",
)
DETECTION_COPY_COLUMNS = tuple(Detection._meta.get_field(name).column for name in DETECTION_COPY_FIELDS)


def detection_rows_copy(rows: Iterable[tuple]) -> int:
    """COPY rows holding the values of DETECTION_COPY_FIELDS, in that order; returns how many."""
    written = 0
    with connection.cursor() as cursor:
        columns = ", ".join(sql_column(Detection, name) for name in DETECTION_COPY_FIELDS)
        copy_sql = f"COPY {sql_table(Detection)} ({columns}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
    return written


def detections_store(
    *,
    job_id,
    frames: Sequence[SampledFrame],
    results: Sequence[FrameDetections],
    class_names: dict[int, str],
) -> int:
    """COPY the detections of a batch of frames; returns how many rows were written.

    Run it in the transaction that also advances the job's frame counter, so
    a crash leaves either both or neither.
    """
    return detection_rows_copy(_batch_rows(job_id=job_id, frames=frames, results=results, class_names=class_names))


def _batch_rows(*, job_id, frames, results, class_names) -> Iterator[tuple]:
    for frame, found in zip(frames, results, strict=True):
        track_ids = found.track_ids.tolist() if found.track_ids is not None else [None] * len(found.class_ids)
        for box, confidence, class_id, track_id in zip(
            found.boxes_xyxy.tolist(),
            found.confidences.tolist(),
            found.class_ids.tolist(),
            track_ids,
            strict=True,
        ):
            yield (
                job_id,
                frame.index,
                frame.timestamp_seconds,
                class_id,
                class_names.get(class_id, str(class_id)),
                confidence,
                box[0],
                box[1],
                box[2],
                box[3],
                track_id if track_id is None or track_id >= 0 else None,
            )
