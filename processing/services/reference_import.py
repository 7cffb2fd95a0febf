"""Importing a person's reference annotations (COCO JSON or MOT CSV) as a video's ground truth.

The reference becomes a completed ProcessingJob with origin `import`, marked `is_ground_truth`, its boxes
stored as Detection rows with confidence 1.0 (track ids kept), so evaluations compare runs with it exactly
as with a run marked by hand. The whole file is parsed and checked before anything is written; the job,
its boxes, the audit row and the `ground_truth_generated` event go in one transaction.
"""

import hashlib
import logging
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from mediaplatform.service_errors import ServiceError
from notifications.models import EventType
from notifications.services.events import event_emit
from processing.annotations import (
    FORMATS,
    AnnotationError,
    FrameGeometry,
    ParsedReference,
    detect_format,
    parse_class_list,
    parse_reference,
)
from processing.models import (
    Detection,
    DetectorModel,
    JobOrigin,
    JobStatus,
    ProcessingJob,
    Stage,
)
from processing.services.detections import detection_rows_copy
from processing.services.jobs import JobRefused
from processing.services.stages import ground_truth_stage_record
from videos.models import Video, WorkflowState
from videos.services.transitions import video_lock

logger = logging.getLogger(__name__)


def reference_max_bytes() -> int:
    return settings.REFERENCE_IMPORT_MAX_BYTES


class ReferenceTooLarge(ServiceError):
    def __init__(self, limit: int):
        super().__init__(
            f"A reference file may be at most {limit:,} bytes.",
            code="file_too_large",
            status_code=413,
            details={"max_bytes": limit},
        )
        self.limit = limit


# Videos whose frames are known and settled: the reference's frames and boxes can be checked against them.
IMPORTABLE_STATES = (WorkflowState.COMPLETED, WorkflowState.ARCHIVED)


def video_geometry(video: Video) -> FrameGeometry:
    """The frame size boxes are given in (as shown, i.e. after rotation, like the exports) and the frame count."""
    width, height = video.width or None, video.height or None
    if width and height and video.rotation in (90, 270, -90):
        width, height = height, width
    return FrameGeometry(width=width, height=height, frame_count=video.frame_count or None)


def video_class_vocabulary(*, video: Video) -> dict[int, str]:
    """Class id to name as this video's runs use them, completed by the default model's names."""
    names: dict[int, str] = {}
    rows = (
        Detection.objects.filter(job__video=video, job__origin=JobOrigin.RUN)
        .values_list("class_id", "class_name")
        .distinct()
        .order_by("class_id")
    )
    for class_id, class_name in rows:
        names.setdefault(class_id, class_name)
    model = DetectorModel.objects.filter(is_default=True).first()
    for key, name in (model.class_names if model else {}).items():
        names.setdefault(int(key), str(name))
    return dict(sorted(names.items()))


def default_mot_classes(*, video: Video) -> dict[int, str]:
    """MOT class numbers when the caller names none: the model's class id + 1 (MOT counts from 1)."""
    return {class_id + 1: name for class_id, name in video_class_vocabulary(video=video).items()}


def _class_ids(parsed: ParsedReference, vocabulary: dict[int, str]) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """Each reference class name to (class id, stored name), matched case-insensitively with the vocabulary.

    A name the model does not know gets a fresh id after the highest known one: its boxes stay in the
    reference and count as missed by every run, which is what they are.
    """
    by_name: dict[str, tuple[int, str]] = {}
    for class_id, name in vocabulary.items():
        by_name.setdefault(name.casefold(), (class_id, name))
    next_id = max(vocabulary, default=-1) + 1
    unknown: list[str] = []
    for box in parsed.boxes:
        key = box.class_name.casefold()
        if key not in by_name:
            by_name[key] = (next_id, box.class_name)
            unknown.append(box.class_name)
            next_id += 1
    return by_name, unknown


def _boxes_store(*, job: ProcessingJob, parsed: ParsedReference, class_ids: dict, fps: float | None) -> None:
    def rows():
        for box in parsed.boxes:
            class_id, class_name = class_ids[box.class_name.casefold()]
            timestamp = box.frame_index / fps if fps else 0.0
            corners = (box.x1, box.y1, box.x2, box.y2)
            yield (job.pk, box.frame_index, timestamp, class_id, class_name, 1.0, *corners, box.track_id)

    detection_rows_copy(rows())


def _read_limited(reference_file: BinaryIO, limit: int) -> bytes:
    content = reference_file.read(limit + 1)
    if len(content) > limit:
        raise ReferenceTooLarge(limit)
    return content


def _refuse_bad_input(video_id, filename: str, error: AnnotationError) -> None:
    logger.warning(
        "reference import for video %s refused: %s (%s) %s", video_id, filename, error.message, error.details
    )


def reference_import(
    *,
    video_id,
    reference_file: BinaryIO,
    filename: str,
    file_format: str | None = None,
    classes: str | None = None,
    actor: AbstractBaseUser | None = None,
) -> ProcessingJob:
    """Store the file's boxes as the video's new ground truth and return the import's job.

    Raises AnnotationError (bad file: nothing stored), ReferenceTooLarge, or JobRefused (the video's state).
    """
    video = Video.objects.get(pk=video_id)
    if video.workflow_state not in IMPORTABLE_STATES:
        raise JobRefused(
            f"A reference can be imported once the video is processed; this one is {video.workflow_state}.",
            state=video.workflow_state,
            allowed=[],
        )
    content = _read_limited(reference_file, reference_max_bytes())
    try:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AnnotationError(f"The file is not UTF-8 text (byte {exc.start} cannot be read).")
        if file_format is not None and file_format not in FORMATS:
            raise AnnotationError(f"Unknown format {file_format!r}; use one of {', '.join(FORMATS)}.", field="format")
        chosen_format = file_format or detect_format(filename=filename, text=text)
        mot_classes: dict[int, str] = {}
        if chosen_format == "mot":
            mot_classes = parse_class_list(classes) if classes else default_mot_classes(video=video)
        parsed = parse_reference(
            text=text, file_format=chosen_format, geometry=video_geometry(video), mot_classes=mot_classes
        )
    except AnnotationError as error:
        _refuse_bad_input(video_id, filename, error)
        raise
    class_ids, unknown_classes = _class_ids(parsed, video_class_vocabulary(video=video))
    used = {class_ids[box.class_name.casefold()] for box in parsed.boxes}
    frames = len({box.frame_index for box in parsed.boxes})
    reference = {
        "format": parsed.format,
        "filename": filename[:255],
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "boxes": len(parsed.boxes),
        "frames": frames,
        "classes": {str(class_id): name for class_id, name in sorted(used)},
        "classes_unknown_to_the_model": unknown_classes,
        "clipped_boxes": parsed.clipped,
        "skipped": parsed.skipped,
    }
    try:
        with transaction.atomic():
            job = _store(video_id=video.pk, parsed=parsed, class_ids=class_ids, reference=reference, actor=actor)
    except IntegrityError:
        # Another request marked a ground truth for this video at the same moment.
        raise JobRefused(
            "The video's ground truth changed at the same time; import again.",
            state=video.workflow_state,
            allowed=[],
        )
    logger.info(
        "reference %s imported for video %s as job %s: %s boxes on %s frames",
        filename,
        video.pk,
        job.pk,
        len(parsed.boxes),
        frames,
    )
    return job


def _store(*, video_id, parsed: ParsedReference, class_ids: dict, reference: dict, actor) -> ProcessingJob:
    video = video_lock(video_id=video_id)
    if video.workflow_state not in IMPORTABLE_STATES:
        raise JobRefused(
            f"A reference can be imported once the video is processed; this one is {video.workflow_state}.",
            state=video.workflow_state,
            allowed=[],
        )
    previous = list(
        ProcessingJob.objects.select_for_update().filter(video=video, is_ground_truth=True).values_list("pk", flat=True)
    )
    ProcessingJob.objects.filter(pk__in=previous).update(is_ground_truth=False, updated_at=timezone.now())
    now = timezone.now()
    job = ProcessingJob.objects.create(
        video=video,
        origin=JobOrigin.IMPORT,
        status=JobStatus.COMPLETED,
        model_name=f"Reference ({parsed.format.upper()}): {reference['filename']}"[:200],
        frame_step=1,
        track=any(box.track_id is not None for box in parsed.boxes),
        config={"origin": JobOrigin.IMPORT.value, "reference": reference},
        is_ground_truth=True,
        current_stage=Stage.GROUND_TRUTH,
        processed_frames=reference["frames"],
        total_frames=video.frame_count,
        progress_percentage=100,
        detections_count=reference["boxes"],
        started_at=now,
        finished_at=now,
    )
    ground_truth_stage_record(
        job_id=job.pk,
        detail=f"{reference['boxes']} boxes imported from {reference['filename']}",
        replaced_job_ids=previous,
    )
    _boxes_store(job=job, parsed=parsed, class_ids=class_ids, fps=video.fps)
    audit_record(
        action="job.import_reference",
        obj=job,
        actor=actor,
        old_values={"ground_truth_job_ids": [str(pk) for pk in previous]},
        new_values={"video_id": str(video.pk), **{k: v for k, v in reference.items() if k != "skipped"}},
    )
    event_emit(
        video=video,
        event_type=EventType.GROUND_TRUTH_GENERATED,
        data={
            "job_id": str(job.pk),
            "origin": JobOrigin.IMPORT.value,
            "format": parsed.format,
            "boxes": reference["boxes"],
            "frames": reference["frames"],
        },
    )
    return job
