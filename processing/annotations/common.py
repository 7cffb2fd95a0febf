"""What every reference-annotation parser shares: the boxes it yields, its error, the frame checks."""

import math
import unicodedata
from dataclasses import dataclass, field

from mediaplatform.api.fields import column_integer_range
from mediaplatform.service_errors import ServiceError
from processing.models import Detection


class AnnotationError(ServiceError, ValueError):
    """The file cannot be used as a reference; the message names the place (line, entry, field) and the fix.

    Its details name that place: `line` for text formats, `path` (e.g. `annotations[3].bbox`) for JSON,
    `field` when one field is to blame.
    """

    default_code = "invalid_reference"

    def __init__(self, message: str, *, line: int | None = None, path: str = "", field: str = ""):
        details: dict = {}
        if line is not None:
            details["line"] = line
        if path:
            details["path"] = path
        if field:
            details["field"] = field
        super().__init__(message, details=details)
        self.line = line
        self.path = path
        self.field = field


@dataclass(frozen=True)
class FrameGeometry:
    """The video the reference describes: frames are 0-based indexes below `frame_count`; boxes in its pixels.

    Any of them may be unknown (None) for a video that was never probed; the matching check is then skipped.
    """

    width: int | None = None
    height: int | None = None
    frame_count: int | None = None


@dataclass(frozen=True)
class ReferenceBox:
    frame_index: int
    class_name: str
    x1: float
    y1: float
    x2: float
    y2: float
    track_id: int | None = None


@dataclass
class ParsedReference:
    format: str
    boxes: list[ReferenceBox] = field(default_factory=list)
    clipped: int = 0  # boxes that reached past the frame's edge and were cut at it
    skipped: dict[str, int] = field(default_factory=dict)  # entries left out on purpose, by reason

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


# Beyond this many boxes a file is refused: the parsed boxes are held in memory by the web process.
MAX_BOXES = 500_000


# What the Detection columns hold: a frame index or track id past these cannot be stored.
FRAME_INDEX_RANGE = column_integer_range(Detection, "frame_index")
TRACK_ID_RANGE = column_integer_range(Detection, "track_id")
CLASS_NAME_MAX_LENGTH = Detection._meta.get_field("class_name").max_length
# Ids that only link entries within the file (COCO image, category and annotation ids): 32-bit, as COCO's are.
ID_RANGE = (-(2**31), 2**31 - 1)


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def check_frame(frame_index: int, geometry: FrameGeometry, *, where: str, line=None, path="") -> None:
    if frame_index < 0:
        raise AnnotationError(f"{where}: frame {frame_index} is before the first frame.", line=line, path=path)
    if frame_index > FRAME_INDEX_RANGE[1]:
        raise AnnotationError(
            f"{where}: frame index {frame_index} is past the largest frame index ({FRAME_INDEX_RANGE[1]}).",
            line=line,
            path=path,
        )
    if geometry.frame_count is not None and frame_index >= geometry.frame_count:
        raise AnnotationError(
            f"{where}: frame index {frame_index} is past the video's last frame "
            f"(it has {geometry.frame_count} frames, indexes 0 to {geometry.frame_count - 1}).",
            line=line,
            path=path,
        )


def place_box(
    *, x: float, y: float, width: float, height: float, geometry: FrameGeometry, where: str, line=None, path=""
) -> tuple[tuple[float, float, float, float], bool]:
    """Corners of a left/top/width/height box inside the frame, and whether it had to be clipped.

    A box reaching past an edge is cut at the edge (annotation tools often leave a box a few pixels outside,
    and the detector's boxes are clipped the same way, so the IoU stays comparable). A box with nothing
    inside the frame is refused: the file does not describe this video.
    """
    if width <= 0 or height <= 0:
        raise AnnotationError(
            f"{where}: width and height must be positive, got {width:g} × {height:g}.", line=line, path=path
        )
    x1, y1, x2, y2 = x, y, x + width, y + height
    if not (math.isfinite(x2) and math.isfinite(y2)):
        raise AnnotationError(f"{where}: the box's far corner is too large a number to store.", line=line, path=path)
    if not geometry.width or not geometry.height:
        return (x1, y1, x2, y2), False
    cx1, cy1 = max(0.0, x1), max(0.0, y1)
    cx2, cy2 = min(float(geometry.width), x2), min(float(geometry.height), y2)
    if cx2 <= cx1 or cy2 <= cy1:
        raise AnnotationError(
            f"{where}: the box [{x:g}, {y:g}, {width:g}, {height:g}] lies entirely outside the "
            f"{geometry.width}×{geometry.height} frame.",
            line=line,
            path=path,
        )
    clipped = (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2)
    return (cx1, cy1, cx2, cy2), clipped


def check_box_count(parsed: ParsedReference) -> None:
    if len(parsed.boxes) > MAX_BOXES:
        raise AnnotationError(f"The file holds more than {MAX_BOXES:,} boxes; split the video or the reference.")


def integer_in_range(value, bounds: tuple[int, int]) -> bool:
    return is_integer(value) and bounds[0] <= value <= bounds[1]


def described_number(text: str) -> str:
    """A number as an error message quotes it: long ones shortened, so the message stays readable."""
    return text if len(text) <= 24 else f"{text[:12]}…{text[-4:]} ({len(text):,} digits)"


def is_printable_in_a_line(character: str) -> bool:
    """False for control and other non-printing characters (Unicode category C) and line or paragraph
    separators (Zl, Zp): a class name holding one would split the YOLO export's one-name-per-line classes.txt,
    and PostgreSQL refuses NUL in text."""
    category = unicodedata.category(character)
    return category[0] != "C" and category not in ("Zl", "Zp")


def clean_class_name(raw: str, *, where: str, line=None, path="", field_name="name") -> str:
    """A class name as stored: the characters that break a line or do not print removed."""
    name = "".join(ch for ch in unicodedata.normalize("NFC", raw) if is_printable_in_a_line(ch)).strip()
    if not name:
        raise AnnotationError(
            f"{where}: the class name must have visible characters.", line=line, path=path, field=field_name
        )
    if len(name) > CLASS_NAME_MAX_LENGTH:
        raise AnnotationError(
            f"{where}: the class name is {len(name):,} characters long; at most {CLASS_NAME_MAX_LENGTH} are kept.",
            line=line,
            path=path,
            field=field_name,
        )
    return name
