"""Detections stored per second by the pipeline's writer against a raw COPY of the same rows.

    python bench/detection_writes.py [--frames 2000] [--per-frame 50] [--batch-frames 8] [--smoke]

Our side is `detections_store` as the pipeline calls it: one call per batch of frames, from the
detector's numpy arrays, each batch in its own transaction. The floor is one raw psycopg COPY of
the very same rows, already built as tuples. `bulk_create` is shown for context. The last line is
`storage_ratio=...` (ours over raw COPY; the goal is >= 0.5).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import SMOKE_HELP, django_setup, last_line, throwaway_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--per-frame", type=int, default=50)
    parser.add_argument("--batch-frames", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.per_frame, args.batch_frames = 16, 5, 4

    django_setup()
    from django.db import transaction

    from processing.detector import FrameDetections
    from processing.frames import SampledFrame
    from processing.models import Detection
    from processing.services.detections import detection_rows_copy, detections_store
    from tests.factories import ProcessingJobFactory

    rng = np.random.default_rng(0)
    blank = np.zeros((1, 1, 3), np.uint8)
    frames = [SampledFrame(index=i, timestamp_seconds=i / 25, image=blank) for i in range(args.frames)]
    results = []
    for _ in frames:
        corners = rng.uniform(0, 600, (args.per_frame, 2)).astype(np.float32)
        results.append(
            FrameDetections(
                boxes_xyxy=np.hstack([corners, corners + rng.uniform(5, 100, (args.per_frame, 2))]).astype(np.float32),
                confidences=rng.uniform(0.25, 1, args.per_frame).astype(np.float32),
                class_ids=rng.integers(0, 80, args.per_frame),
            )
        )
    names = {i: f"class{i}" for i in range(80)}
    total = args.frames * args.per_frame

    with throwaway_database():
        ours_job, raw_job, orm_job = (ProcessingJobFactory() for _ in range(3))

        started = time.perf_counter()
        for start in range(0, args.frames, args.batch_frames):
            with transaction.atomic():
                detections_store(
                    job_id=ours_job.pk,
                    frames=frames[start : start + args.batch_frames],
                    results=results[start : start + args.batch_frames],
                    class_names=names,
                )
        ours = total / (time.perf_counter() - started)

        rows = [
            (raw_job.pk, frame.index, frame.timestamp_seconds, cls, names[cls], conf, *box, None)
            for frame, found in zip(frames, results, strict=True)
            for box, conf, cls in zip(
                found.boxes_xyxy.tolist(), found.confidences.tolist(), found.class_ids.tolist(), strict=True
            )
        ]
        started = time.perf_counter()
        with transaction.atomic():
            detection_rows_copy(rows)
        raw = total / (time.perf_counter() - started)

        orm_rows = [
            Detection(
                job_id=orm_job.pk,
                frame_index=r[1],
                timestamp_seconds=r[2],
                class_id=r[3],
                class_name=r[4],
                confidence=r[5],
                x1=r[6],
                y1=r[7],
                x2=r[8],
                y2=r[9],
            )
            for r in rows[: min(len(rows), 20_000)]
        ]
        started = time.perf_counter()
        with transaction.atomic():
            Detection.objects.bulk_create(orm_rows, batch_size=2000)
        orm = len(orm_rows) / (time.perf_counter() - started)

        stored = Detection.objects.filter(job=ours_job).count()
        assert stored == total, f"stored {stored} of {total}"

    print(f"{total} detections ({args.frames} frames x {args.per_frame}), batches of {args.batch_frames} frames")
    print(f"pipeline writer (COPY per batch, from numpy): {ours:,.0f} rows/s")
    print(f"raw COPY, one statement, rows prebuilt:       {raw:,.0f} rows/s")
    print(f"bulk_create (context, {len(orm_rows)} rows):            {orm:,.0f} rows/s")
    print(last_line(ours_rows_per_s=ours, raw_copy_rows_per_s=raw, storage_ratio=ours / raw))


if __name__ == "__main__":
    main()
