"""YOLO (ultralytics/darknet) labels as a zip, written while it is sent.

labels/frame_NNNNNN.txt per frame with detections: `class cx cy w h` normalised to the frame size; plus
`classes.txt` (one name per line, by class id) and `data.yaml` (`names:` mapping). The zip goes through a
write-only sink: `zipfile` writes data descriptors when it cannot seek, so no member is held back.
"""

import zipfile
from collections.abc import Iterator
from itertools import groupby

from processing.annotations.common import is_printable_in_a_line
from processing.exports.common import FLUSH_BYTES, frame_size, job_class_names, job_detection_rows
from processing.models import ProcessingJob


class _Sink:
    """A non-seekable file object collecting what zipfile writes, emptied by the generator."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts, self.size = [], 0
        return data


def _unseekable(sink: _Sink):
    class Stream:
        def write(self, data):
            return sink.write(data)

        def flush(self):
            pass

        def seekable(self):
            return False

    return Stream()


def one_line_name(name: str, class_id: int) -> str:
    """The class name as classes.txt can hold it, one name per line: rows stored before imports cleaned their
    names, or a model's own names, may hold a newline or another character that breaks a line."""
    cleaned = "".join(ch for ch in name if is_printable_in_a_line(ch)).strip()
    return cleaned or f"class_{class_id}"


def yolo_export(job: ProcessingJob) -> Iterator[bytes]:
    width, height = frame_size(job)
    width, height = width or 1, height or 1
    names = {class_id: one_line_name(name, class_id) for class_id, name in job_class_names(job).items()}
    sink = _Sink()
    with zipfile.ZipFile(_unseekable(sink), mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "classes.txt", "".join(f"{names.get(i, f'class_{i}')}\n" for i in range(max(names, default=-1) + 1))
        )
        yaml_names = "".join(f"  {cid}: {name!r}\n" for cid, name in names.items())
        archive.writestr(
            "data.yaml", f"# run {job.pk}, video {job.video_id}\npath: .\nlabels: labels\nnames:\n{yaml_names}"
        )
        for frame_index, rows in groupby(job_detection_rows(job), key=lambda row: row[1]):
            lines = []
            for _id, _frame, class_id, _name, _conf, _track, x1, y1, x2, y2 in rows:
                cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
                w, h = (x2 - x1) / width, (y2 - y1) / height
                lines.append(f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
            archive.writestr(f"labels/frame_{frame_index:06d}.txt", "".join(lines))
            if sink.size >= FLUSH_BYTES:
                yield sink.drain()
    yield sink.drain()
