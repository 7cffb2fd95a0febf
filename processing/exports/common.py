from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from processing.models import Detection, ProcessingJob

ROW_CHUNK = 2000  # rows fetched per round trip from the server-side cursor
FLUSH_BYTES = 64 * 1024  # output handed to the server once this much is buffered

DETECTION_FIELDS = ("id", "frame_index", "class_id", "class_name", "confidence", "track_id", "x1", "y1", "x2", "y2")


def job_detections(job: ProcessingJob) -> QuerySet:
    return Detection.objects.filter(job=job).order_by("frame_index", "id").values_list(*DETECTION_FIELDS)


def job_detection_rows(job: ProcessingJob) -> Iterator[tuple]:
    return job_detections(job).iterator(chunk_size=ROW_CHUNK)


def job_class_names(job: ProcessingJob) -> dict[int, str]:
    """Class id to name: the model's full list when the run has a registered model, else those detected."""
    names: dict[int, str] = {}
    model = job.detector_model
    if model is not None and model.class_names:
        names = {int(k): str(v) for k, v in model.class_names.items()}
    for class_id, class_name in (
        Detection.objects.filter(job=job).values_list("class_id", "class_name").distinct().order_by("class_id")
    ):
        names.setdefault(class_id, class_name)
    return dict(sorted(names.items()))


def frame_size(job: ProcessingJob) -> tuple[int, int]:
    video = job.video
    width, height = video.width or 0, video.height or 0
    if video.rotation in (90, 270, -90):
        width, height = height, width
    return width, height


def in_chunks(pieces: Iterable[str]) -> Iterator[bytes]:
    """Join text pieces into chunks of about FLUSH_BYTES: few writes to the server, bounded memory."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= FLUSH_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()
