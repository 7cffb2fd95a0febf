"""Reference annotations (a person's boxes, the ground truth) read from the files annotation tools write.

`parse_reference` picks the parser; each parser validates strictly and raises AnnotationError naming the
line or entry at fault, so nothing of a bad file is ever stored.
"""

from pathlib import PurePosixPath

from processing.annotations.coco import parse_coco
from processing.annotations.common import AnnotationError, FrameGeometry, ParsedReference, ReferenceBox
from processing.annotations.mot import parse_class_list, parse_mot

FORMATS = ("coco", "mot")


def detect_format(*, filename: str, text: str) -> str:
    """`coco` for .json, `mot` for .csv/.txt; otherwise by content: a JSON object is COCO, anything else MOT."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix == ".json":
        return "coco"
    if suffix in (".csv", ".txt"):
        return "mot"
    return "coco" if text.lstrip().startswith("{") else "mot"


def parse_reference(
    *, text: str, file_format: str, geometry: FrameGeometry, mot_classes: dict[int, str]
) -> ParsedReference:
    if file_format == "coco":
        parsed = parse_coco(text, geometry=geometry)
    elif file_format == "mot":
        parsed = parse_mot(text, geometry=geometry, classes=mot_classes)
    else:
        raise AnnotationError(f"Unknown format {file_format!r}; use one of {', '.join(FORMATS)}.", field="format")
    if not parsed.boxes:
        raise AnnotationError("The file holds no boxes to use as the reference.")
    return parsed


__all__ = [
    "FORMATS",
    "AnnotationError",
    "FrameGeometry",
    "ParsedReference",
    "ReferenceBox",
    "detect_format",
    "parse_class_list",
    "parse_reference",
]
