"""What a run found, summed up per class and per track, for the video page's detections browser.

One aggregate statement per list, over the run's rows through the (job, frame_index) index: the page never
fetches every box to learn where each class or track shows up.
"""

from django.db import connection

from mediaplatform.sql import sql_column, sql_table
from processing.models import Detection, ProcessingJob

# A run keeps at most a few hundred classes (a model's names, or an import's); tracks can run into the
# thousands on a long video, so the list stops at a bound and says how many there are in all.
MAX_CLASSES_LISTED = 200
MAX_TRACKS_LISTED = 500


def _summary_sql() -> tuple[str, str]:
    table = sql_table(Detection)
    job, frame, seconds, name, confidence, track = (
        sql_column(Detection, field)
        for field in ("job", "frame_index", "timestamp_seconds", "class_name", "confidence", "track_id")
    )
    per_class = f"""
SELECT {name}, count(*), min({frame}), max({frame}), min({seconds}), max({seconds}), max({confidence})
FROM {table} WHERE {job} = %s AND {confidence} >= %s
GROUP BY {name} ORDER BY count(*) DESC, {name} LIMIT %s"""
    # A track keeps its class almost always; when the detector hesitates, the track is named by its most
    # frequent class. count(*) OVER () tells how many tracks there are beyond the listed ones.
    per_track = f"""
SELECT {track}, mode() WITHIN GROUP (ORDER BY {name}), count(*), min({frame}), max({frame}),
       min({seconds}), max({seconds}), max({confidence}), count(*) OVER ()
FROM {table} WHERE {job} = %s AND {confidence} >= %s AND {track} IS NOT NULL
GROUP BY {track} ORDER BY min({frame}), {track} LIMIT %s"""
    return per_class, per_track


_PER_CLASS_SQL, _PER_TRACK_SQL = _summary_sql()


def _span(first_frame, last_frame, first_seconds, last_seconds, count, best) -> dict:
    return {
        "count": count,
        "first_frame": first_frame,
        "last_frame": last_frame,
        "first_seconds": round(first_seconds, 3),
        "last_seconds": round(last_seconds, 3),
        "max_confidence": round(best, 4),
    }


def detection_summary_for_job(*, job: ProcessingJob, min_confidence: float = 0.0) -> dict:
    """Per class and per track: how many boxes at or above `min_confidence`, first and last seen (frame, seconds).

    Classes most frequent first; tracks in the order they appear. `tracks_total` counts every track, listed or not.
    """
    job_id = job.pk
    with connection.cursor() as cursor:
        cursor.execute(_PER_CLASS_SQL, [job_id, min_confidence, MAX_CLASSES_LISTED])
        classes = [
            {"class_name": name, **_span(first, last, first_s, last_s, count, best)}
            for name, count, first, last, first_s, last_s, best in cursor.fetchall()
        ]
        cursor.execute(_PER_TRACK_SQL, [job_id, min_confidence, MAX_TRACKS_LISTED])
        track_rows = cursor.fetchall()
    tracks = [
        {"track_id": track, "class_name": name, **_span(first, last, first_s, last_s, count, best)}
        for track, name, count, first, last, first_s, last_s, best, _total in track_rows
    ]
    return {
        "job_id": str(job_id),
        "job_status": job.status,
        "tracked": job.track,
        "min_confidence": min_confidence,
        "boxes": sum(row["count"] for row in classes),
        "classes": classes,
        "tracks": tracks,
        "tracks_total": track_rows[0][-1] if track_rows else 0,
    }
