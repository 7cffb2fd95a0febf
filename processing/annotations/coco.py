"""COCO detection JSON as reference boxes: the platform's own export, CVAT's and Label Studio's.

Which frame an image is (the first rule that applies):
1. its `frame_index` (the platform's export writes it);
2. else the last group of digits in its file name, read as a 0-based frame index (`frame_000042.jpg` is
   frame 42, as CVAT names the frames of a video task; Label Studio's `images/3f2a-frame_000042.jpg` too);
3. else its `id` - 1 (COCO ids start at 1; the platform and CVAT number images in frame order).
Two images on the same frame are refused.

Classes are taken by category *name*; the caller maps names to the model's class ids. `bbox` is
[left, top, width, height] in pixels. Crowd regions (`iscrowd: 1`) are left out: the platform's metrics
have no ignore regions. A track id is read from `attributes.track_id` (CVAT, the platform) or `track_id`.
Scores, segmentations and other keys are ignored.

Ids are 32-bit (as in COCO), frame indexes and track ids must fit their columns, class names lose their
control characters; a number out of range refuses the file naming the entry, like any other malformed entry.
"""

import re
from pathlib import PurePosixPath

from mediaplatform.api.fields import bounded_integer
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
    integer_in_range,
    is_integer,
    is_number,
    place_box,
)

_DIGITS = re.compile(r"\d+")
# Integer literals longer than this are kept as text (OversizedInteger): no id, frame or track id this long
# fits a column, and int() refuses literals past 4,300 digits with a ValueError of its own.
_LONGEST_INTEGER_LITERAL = 20


class OversizedInteger(str):
    """An integer literal too long to be any id, frame or track id: refused where it is used, naming the entry."""


def _integer_literal(literal: str) -> int | OversizedInteger:
    return OversizedInteger(literal) if len(literal) > _LONGEST_INTEGER_LITERAL else int(literal)


def _quoted(value) -> str:
    """A value as an error message shows it: numbers too long shortened, anything else cut at 120 characters."""
    if isinstance(value, OversizedInteger):
        return described_number(value)
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _checked_id(value, *, name: str, where: str, path: str) -> int:
    if isinstance(value, OversizedInteger) or (is_integer(value) and not integer_in_range(value, ID_RANGE)):
        raise AnnotationError(
            f"{where}: `{name}` {_quoted(value)} is out of range (ids go from {ID_RANGE[0]} to {ID_RANGE[1]}).",
            path=f"{path}.{name}",
            field=name,
        )
    if not is_integer(value):
        raise AnnotationError(f"{where}: `{name}` must be an integer.", path=f"{path}.{name}", field=name)
    return value


def _list(data: dict, key: str) -> list:
    value = data.get(key)
    if not isinstance(value, list):
        raise AnnotationError(
            f"A COCO file needs a list of {key!r} (found {type(value).__name__ if key in data else 'nothing'}).",
            path=key,
        )
    return value


def _object(value, where: str, path: str) -> dict:
    if not isinstance(value, dict):
        raise AnnotationError(f"{where} must be a JSON object.", path=path)
    return value


def _categories(data: dict) -> dict[int, str]:
    names: dict[int, str] = {}
    for position, raw in enumerate(_list(data, "categories")):
        path = f"categories[{position}]"
        category = _object(raw, path, path)
        category_id = _checked_id(category.get("id"), name="id", where=path, path=path)
        name = category.get("name")
        if not isinstance(name, str) or not name.strip():
            raise AnnotationError(f"{path} (id {category_id}): `name` must be a non-empty string.", path=f"{path}.name")
        if category_id in names:
            raise AnnotationError(f"{path}: category id {category_id} appears twice.", path=f"{path}.id", field="id")
        names[category_id] = clean_class_name(name, where=f"{path} (id {category_id})", path=f"{path}.name")
    if not names:
        raise AnnotationError("The file has no categories, so its boxes have no class.", path="categories")
    return names


def _frame_of(image: dict, where: str, path: str) -> int:
    if "frame_index" in image:
        frame_index = image["frame_index"]
        if isinstance(frame_index, OversizedInteger):
            raise AnnotationError(
                f"{where}: `frame_index` {_quoted(frame_index)} is past the largest frame index "
                f"({FRAME_INDEX_RANGE[1]}).",
                path=f"{path}.frame_index",
            )
        if not is_integer(frame_index):
            raise AnnotationError(f"{where}: `frame_index` must be an integer.", path=f"{path}.frame_index")
        return frame_index
    file_name = image.get("file_name")
    if isinstance(file_name, str):
        digits = _DIGITS.findall(PurePosixPath(file_name.replace("\\", "/")).stem)
        if digits:
            frame_index = bounded_integer(digits[-1], FRAME_INDEX_RANGE)
            if frame_index is None:
                raise AnnotationError(
                    f"{where}: the frame number {described_number(digits[-1])} in its file name is past the "
                    f"largest frame index ({FRAME_INDEX_RANGE[1]}).",
                    path=f"{path}.file_name",
                )
            return frame_index
    image_id = image["id"]
    if image_id < 1:
        raise AnnotationError(
            f"{where}: cannot tell its frame: no `frame_index`, no digits in the file name, and id {image_id} "
            "is below 1 (ids are read as frame + 1).",
            path=path,
        )
    return image_id - 1


def _images(data: dict, geometry: FrameGeometry) -> dict[int, int]:
    """Image id to frame index."""
    frames: dict[int, int] = {}
    image_of_frame: dict[int, int] = {}
    for position, raw in enumerate(_list(data, "images")):
        path = f"images[{position}]"
        image = _object(raw, path, path)
        image_id = _checked_id(image.get("id"), name="id", where=path, path=path)
        where = f"{path} (id {image_id})"
        if image_id in frames:
            raise AnnotationError(f"{path}: image id {image_id} appears twice.", path=f"{path}.id", field="id")
        width, height = image.get("width"), image.get("height")
        if (
            is_integer(width)
            and is_integer(height)
            and width > 0
            and height > 0
            and geometry.width
            and geometry.height
            and (width, height) != (geometry.width, geometry.height)
        ):
            raise AnnotationError(
                f"{where}: it is {width}×{height} but the video's frames are {geometry.width}×{geometry.height}.",
                path=f"{path}.width",
            )
        frame_index = _frame_of(image, where, path)
        check_frame(frame_index, geometry, where=where, path=path)
        if frame_index in image_of_frame:
            raise AnnotationError(
                f"{where}: image ids {image_of_frame[frame_index]} and {image_id} both are frame {frame_index}.",
                path=path,
            )
        image_of_frame[frame_index] = image_id
        frames[image_id] = frame_index
    return frames


def _track_id(annotation: dict, where: str, path: str) -> int | None:
    attributes = annotation.get("attributes")
    value = attributes.get("track_id") if isinstance(attributes, dict) else None
    if value is None:
        value = annotation.get("track_id")
    if value is None:
        return None
    if not integer_in_range(value, TRACK_ID_RANGE):
        raise AnnotationError(
            f"{where}: the track id must be a whole number from {TRACK_ID_RANGE[0]} to {TRACK_ID_RANGE[1]}, "
            f"got {_quoted(value)}.",
            path=path,
        )
    return value


def parse_coco(text: str, *, geometry: FrameGeometry) -> ParsedReference:
    """Every box of a COCO detection file; raises AnnotationError at the first problem."""
    try:
        data = json_loads_bounded(text, parse_int=_integer_literal)
    except JSONInputRefused as exc:
        raise AnnotationError(exc.message, line=exc.line) from exc
    if not isinstance(data, dict):
        raise AnnotationError("A COCO file is a JSON object with `images`, `annotations` and `categories`.")
    categories = _categories(data)
    frames = _images(data, geometry)
    parsed = ParsedReference(format="coco")
    for position, raw in enumerate(_list(data, "annotations")):
        path = f"annotations[{position}]"
        annotation = _object(raw, path, path)
        where = path + (f" (id {annotation['id']})" if is_integer(annotation.get("id")) else "")
        if annotation.get("iscrowd") in (1, True):
            parsed.skip("crowd")
            continue
        image_id, category_id = annotation.get("image_id"), annotation.get("category_id")
        if not is_integer(image_id) or image_id not in frames:
            raise AnnotationError(
                f"{where}: `image_id` {_quoted(image_id)} is not the id of an image in `images`.",
                path=f"{path}.image_id",
                field="image_id",
            )
        if not is_integer(category_id) or category_id not in categories:
            raise AnnotationError(
                f"{where}: `category_id` {_quoted(category_id)} is not the id of a category in `categories`.",
                path=f"{path}.category_id",
                field="category_id",
            )
        bbox = annotation.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox)):
            raise AnnotationError(
                f"{where}: `bbox` must be four finite numbers [left, top, width, height], got {_quoted(bbox)}.",
                path=f"{path}.bbox",
                field="bbox",
            )
        (x1, y1, x2, y2), clipped = place_box(
            x=float(bbox[0]),
            y=float(bbox[1]),
            width=float(bbox[2]),
            height=float(bbox[3]),
            geometry=geometry,
            where=f"{where} bbox",
            path=f"{path}.bbox",
        )
        parsed.clipped += clipped
        parsed.boxes.append(
            ReferenceBox(
                frame_index=frames[image_id],
                class_name=categories[category_id],
                x1=x1,
                y1=y1,
                x2=x2,
                y2=y2,
                track_id=_track_id(annotation, where, f"{path}.attributes.track_id"),
            )
        )
        check_box_count(parsed)
    return parsed
