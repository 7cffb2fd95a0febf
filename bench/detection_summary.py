"""The detections browser's summary (per class and per track, first and last seen) summed in SQL, against reading
every box of the run and summing in Python.

    python bench/detection_summary.py [--frames 1500] [--per-frame 4] [--tracks 300] [--repeats 20] [--smoke]

A throwaway database gets one tracked run with frames x per-frame boxes over 6 classes and `--tracks` tracks,
plus the same number of boxes in another run (so the index has to pick the run out). Ours is
`detection_summary_for_job` (two aggregate statements through the (job, frame_index) index). The baseline reads
every row of the run with `values_list` (what the page's packed-detections endpoint reads) and sums the same
figures in Python. Each is run `--repeats` times after one warm-up; the medians are compared.
The last line is `summary_ms=... baseline_ms=... ratio=... boxes=...` (ratio: baseline over ours).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import SMOKE_HELP, django_setup, last_line, throwaway_database  # noqa: E402

CLASSES = ["person", "car", "bicycle", "dog", "bus", "truck"]


def python_summary(job, min_confidence: float) -> dict:
    from processing.models import Detection

    classes: dict[str, list] = {}
    tracks: dict[int, list] = {}
    rows = Detection.objects.filter(job=job, confidence__gte=min_confidence).values_list(
        "frame_index", "timestamp_seconds", "class_name", "confidence", "track_id"
    )
    for frame, seconds, name, confidence, track in rows.iterator(chunk_size=5000):
        for key, table in ((name, classes), (track, tracks if track is not None else None)):
            if table is None:
                continue
            span = table.get(key)
            if span is None:
                table[key] = [1, frame, frame, seconds, seconds, confidence, {name: 1}]
                continue
            span[0] += 1
            if frame < span[1]:
                span[1], span[3] = frame, seconds
            if frame > span[2]:
                span[2], span[4] = frame, seconds
            span[5] = max(span[5], confidence)
            span[6][name] = span[6].get(name, 0) + 1
    return {"classes": len(classes), "tracks": len(tracks), "boxes": sum(span[0] for span in classes.values())}


def median_ms(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--per-frame", type=int, default=4)
    parser.add_argument("--tracks", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.per_frame, args.tracks, args.repeats = 40, 3, 10, 2

    django_setup()
    from django.db import connection

    from processing.models import Detection
    from processing.selectors_detections import detection_summary_for_job
    from tests.factories import ProcessingJobFactory

    with throwaway_database():
        job = ProcessingJobFactory(track=True, status="completed")
        other = ProcessingJobFactory(video=job.video, status="completed")
        for run in (job, other):
            Detection.objects.bulk_create(
                (
                    Detection(
                        job=run,
                        frame_index=frame,
                        timestamp_seconds=frame / 25,
                        class_id=(frame + slot) % len(CLASSES),
                        class_name=CLASSES[(frame + slot) % len(CLASSES)],
                        confidence=0.25 + ((frame * 7 + slot * 13) % 75) / 100,
                        track_id=(frame // 50 * args.per_frame + slot) % args.tracks + 1,
                        x1=10,
                        y1=10,
                        x2=60,
                        y2=90,
                    )
                    for frame in range(args.frames)
                    for slot in range(args.per_frame)
                ),
                batch_size=5000,
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

        ours = detection_summary_for_job(job=job, min_confidence=0.4)
        theirs = python_summary(job, 0.4)
        assert (len(ours["classes"]), ours["tracks_total"], ours["boxes"]) == (
            theirs["classes"],
            theirs["tracks"],
            theirs["boxes"],
        ), (ours["boxes"], theirs)

        summary_ms = median_ms(lambda: detection_summary_for_job(job=job, min_confidence=0.4), args.repeats)
        baseline_ms = median_ms(lambda: python_summary(job, 0.4), args.repeats)
        boxes = args.frames * args.per_frame
        print(f"run of {boxes} boxes, {args.tracks} tracks, {len(CLASSES)} classes (and as many in another run)")
        print(f"summary in SQL:               {summary_ms:8.2f} ms (median of {args.repeats})")
        print(f"every row read, Python sums:  {baseline_ms:8.2f} ms")
        print(f"ratio (baseline / ours):      {baseline_ms / summary_ms:8.2f}")
        print(last_line(summary_ms=summary_ms, baseline_ms=baseline_ms, ratio=baseline_ms / summary_ms, boxes=boxes))


if __name__ == "__main__":
    main()
