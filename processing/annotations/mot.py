"""MOT Challenge CSV as reference boxes: `frame,id,left,top,width,height[,conf[,class[,visibility[,...]]]]`.

- `frame` is 1-based (frame 1 is the video's frame index 0); `id` is the track id, -1 for none.
- `conf` is MOT's "consider" flag in ground truth: a row with 0 is an ignored entry and is left out;
  any other value (or no column) keeps the row.
- `class` is a class number from the class list: by default the model's classes numbered from 1 (model
  class id + 1, as in MOT Challenge and the platform's COCO export), or the `classes` the caller gives.
  -1 (or no column) means "no class", accepted only when the list has exactly one class.
- `visibility` and any later columns are ignored. Blank lines are skipped; there is no header line.
- A track id may appear once per frame.
"""

import csv
import math
import re

from mediaplatform.json_input import JSONInputRefused, json_loads_bounded
from processing.annotations.common import (
    FRAME_INDEX_RANGE,
    ID_RANGE,
    TRACK_ID_RANGE,
    AnnotationError,
    FrameGeometry,
    ParsedReference,
    ReferenceBox,
    check_box_count,
    check_frame,
    clean_class_name,
    described_number,
    place_box,
)

# The largest value each integer column may hold: frames are 1-based here, 0-based in the Detection column.
_LARGEST = {"frame": FRAME_INDEX_RANGE[1] + 1, "id": TRACK_ID_RANGE[1], "class": ID_RANGE[1]}
_CLASS_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")

_COLUMNS = ("frame", "id", "left", "top", "width", "height", "conf", "class")


def parse_class_list(text: str) -> dict[int, str]:
    """The `classes` field: names separated by commas (class 1 is the first), or a JSON object {"1": "name"}."""
    text = text.strip()
    if not text:
        raise AnnotationError("`classes` is empty.", field="classes")
    if text.startswith("{"):
        try:
            raw = json_loads_bounded(text)
        except JSONInputRefused as exc:
            raise AnnotationError(f"`classes`: {exc.message}", field="classes") from exc
        if not isinstance(raw, dict):
            raise AnnotationError('`classes` must be a JSON object {"1": "name"} or comma-separated names.')
        classes: dict[int, str] = {}
        for key, name in raw.items():
            if not _CLASS_NUMBER.fullmatch(key):
                raise AnnotationError(f"`classes`: {key[:40]!r} is not a class number.", field="classes")
            digits = key.strip().lstrip("+-").lstrip("0")
            if len(digits) > len(str(ID_RANGE[1])) or not ID_RANGE[0] <= int(key) <= ID_RANGE[1]:
                raise AnnotationError(
                    f"`classes`: class number {described_number(key.strip())} is out of range "
                    f"({ID_RANGE[0]} to {ID_RANGE[1]}).",
                    field="classes",
                )
            number = int(key)
            if not isinstance(name, str) or not name.strip():
                raise AnnotationError(f"`classes`: class {number} needs a non-empty name.", field="classes")
            classes[number] = clean_class_name(name, where=f"`classes`: class {number}", field_name="classes")
        return classes
    names = [name.strip() for name in text.split(",")]
    if any(not name for name in names):
        raise AnnotationError("`classes`: a name is empty (two commas in a row, or a trailing comma).", field="classes")
    return {
        number: clean_class_name(name, where=f"`classes`: class {number}", field_name="classes")
        for number, name in enumerate(names, start=1)
    }


def _integer(value: str, column: str, line: int) -> int:
    try:
        number = float(value)
    except ValueError:
        raise AnnotationError(
            f"line {line}: `{column}` must be a whole number, got {value[:40]!r}.", line=line, field=column
        )
    if not math.isfinite(number) or number != int(number):
        raise AnnotationError(
            f"line {line}: `{column}` must be a whole number, got {value[:40]!r}.", line=line, field=column
        )
    if abs(number) > _LARGEST[column]:
        raise AnnotationError(
            f"line {line}: `{column}` {described_number(value)} is out of range (at most {_LARGEST[column]}).",
            line=line,
            field=column,
        )
    return int(number)


def _number(value: str, column: str, line: int) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise AnnotationError(f"line {line}: `{column}` must be a number, got {value[:40]!r}.", line=line, field=column)
    return number


def _class_name(number: int, classes: dict[int, str], line: int) -> str:
    if number == -1:
        if len(classes) == 1:
            return next(iter(classes.values()))
        raise AnnotationError(
            f"line {line}: the row has no class (-1); give the class in column 8, or send `classes` with the "
            "one class every row is.",
            line=line,
            field="class",
        )
    if number not in classes:
        known = ", ".join(f"{k}: {v}" for k, v in sorted(classes.items())) or "none"
        raise AnnotationError(
            f"line {line}: class {number} is not in the class list ({known}).", line=line, field="class"
        )
    return classes[number]


def parse_mot(text: str, *, geometry: FrameGeometry, classes: dict[int, str]) -> ParsedReference:
    """Every box of a MOT Challenge CSV; raises AnnotationError at the first problem."""
    parsed = ParsedReference(format="mot")
    first_line_of_track: dict[tuple[int, int], int] = {}
    rows = csv.reader(text.splitlines(), strict=True)
    line = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise AnnotationError(f"line {line + 1}: not CSV: {exc}.", line=line + 1)
        line += 1
        values = [value.strip() for value in row]
        if not any(values):
            continue
        if len(values) < 6:
            raise AnnotationError(
                f"line {line}: expected at least 6 comma-separated values (frame,id,left,top,width,height), "
                f"found {len(values)}.",
                line=line,
            )
        frame = _integer(values[0], "frame", line)
        if frame < 1:
            raise AnnotationError(f"line {line}: `frame` is 1-based, got {frame}.", line=line, field="frame")
        frame_index = frame - 1
        check_frame(frame_index, geometry, where=f"line {line}", line=line)
        track = _integer(values[1], "id", line)
        if track < -1:
            raise AnnotationError(
                f"line {line}: `id` must be -1 (no track) or ≥ 0, got {track}.", line=line, field="id"
            )
        left, top, width, height = (_number(values[i], _COLUMNS[i], line) for i in range(2, 6))
        if len(values) > 6 and values[6] and _number(values[6], "conf", line) == 0:
            parsed.skip("ignored")  # MOT ground truth marks entries not to be evaluated with 0
            continue
        class_number = _integer(values[7], "class", line) if len(values) > 7 and values[7] else -1
        class_name = _class_name(class_number, classes, line)
        if track != -1:
            earlier = first_line_of_track.setdefault((frame_index, track), line)
            if earlier != line:
                raise AnnotationError(
                    f"line {line}: track {track} appears twice in frame {frame} (first on line {earlier}).",
                    line=line,
                    field="id",
                )
        (x1, y1, x2, y2), clipped = place_box(
            x=left, y=top, width=width, height=height, geometry=geometry, where=f"line {line}", line=line
        )
        parsed.clipped += clipped
        parsed.boxes.append(
            ReferenceBox(
                frame_index=frame_index,
                class_name=class_name,
                x1=x1,
                y1=y1,
                x2=x2,
                y2=y2,
                track_id=None if track == -1 else track,
            )
        )
        check_box_count(parsed)
    return parsed
