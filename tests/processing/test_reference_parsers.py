"""Reading reference annotations: COCO JSON and MOT CSV, the good files and each way a file can be wrong."""

import json

import pytest

from processing.annotations import AnnotationError, FrameGeometry, detect_format, parse_class_list, parse_reference
from processing.annotations.coco import parse_coco
from processing.annotations.mot import parse_mot

GEOMETRY = FrameGeometry(width=200, height=100, frame_count=30)
CLASSES = {1: "box", 2: "disc"}


def coco(**overrides) -> str:
    document = {
        "images": [
            {"id": 1, "file_name": "frame_000000.jpg", "width": 200, "height": 100, "frame_index": 0},
            {"id": 2, "file_name": "frame_000004.jpg", "width": 200, "height": 100, "frame_index": 4},
        ],
        "categories": [{"id": 1, "name": "box"}, {"id": 2, "name": "disc"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "attributes": {"track_id": 3}},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 5.5, 6.5]},
        ],
    }
    document.update(overrides)
    return json.dumps(document)


def refused(call, *args, **kwargs) -> AnnotationError:
    with pytest.raises(AnnotationError) as caught:
        call(*args, **kwargs)
    return caught.value


# ---- COCO ---------------------------------------------------------------------------------------


def test_coco_boxes_become_corner_boxes_with_class_names_and_tracks():
    parsed = parse_coco(coco(), geometry=GEOMETRY)
    assert parsed.format == "coco"
    first, second = parsed.boxes
    assert (first.frame_index, first.class_name, first.track_id) == (0, "box", 3)
    assert (first.x1, first.y1, first.x2, first.y2) == (10, 20, 40, 60)
    assert (second.frame_index, second.class_name, second.track_id) == (4, "disc", None)
    assert (second.x2, second.y2) == (5.5, 6.5)


@pytest.mark.parametrize(
    ("image", "frame"),
    [
        ({"id": 9, "file_name": "frame_000007.PNG", "frame_index": 2}, 2),  # frame_index wins
        ({"id": 9, "file_name": "frame_000007.PNG"}, 7),  # CVAT: the file name's digits, 0-based
        ({"id": 0, "file_name": "images/3f2a9-frame_000012.jpg"}, 12),  # Label Studio: the last digits
        ({"id": 6, "file_name": "still.jpg"}, 5),  # no digits: id - 1
        ({"id": 6}, 5),
    ],
)
def test_coco_frame_rule(image, frame):
    text = coco(
        images=[image], annotations=[{"id": 1, "image_id": image["id"], "category_id": 1, "bbox": [1, 1, 2, 2]}]
    )
    assert parse_coco(text, geometry=GEOMETRY).boxes[0].frame_index == frame


def test_coco_crowd_regions_are_left_out_and_counted():
    text = coco(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "iscrowd": 1}])
    parsed = parse_coco(text, geometry=GEOMETRY)
    assert parsed.boxes == [] and parsed.skipped == {"crowd": 1}


def test_boxes_past_the_edge_are_clipped_and_counted():
    text = coco(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [-5, 90, 30, 20]}])
    parsed = parse_coco(text, geometry=GEOMETRY)
    box = parsed.boxes[0]
    assert (box.x1, box.y1, box.x2, box.y2) == (0, 90, 25, 100)
    assert parsed.clipped == 1


@pytest.mark.parametrize(
    ("text", "message", "details"),
    [
        ('{"images": [', "Not valid JSON", {"line": 1}),
        ("[1, 2]", "is a JSON object", {}),
        (coco(images=None), "needs a list of 'images'", {"path": "images"}),
        (coco(categories=[]), "no categories", {"path": "categories"}),
        (coco(categories=[{"id": "1", "name": "box"}]), "`id` must be an integer", {"path": "categories[0].id"}),
        (coco(categories=[{"id": 1, "name": ""}]), "`name` must be a non-empty string", {"path": "categories[0].name"}),
        (
            coco(categories=[{"id": 1, "name": "box"}, {"id": 1, "name": "disc"}]),
            "category id 1 appears twice",
            {"path": "categories[1].id"},
        ),
        (coco(images=[{"id": 1}, {"id": 1}]), "image id 1 appears twice", {"path": "images[1].id"}),
        (
            coco(images=[{"id": 1, "frame_index": 3}, {"id": 2, "file_name": "frame_3.jpg"}]),
            "both are frame 3",
            {"path": "images[1]"},
        ),
        (coco(images=[{"id": 1, "frame_index": 30}]), "past the video's last frame", {"path": "images[0]"}),
        (coco(images=[{"id": 0}]), "cannot tell its frame", {"path": "images[0]"}),
        (
            coco(images=[{"id": 1, "frame_index": 0, "width": 640, "height": 480}]),
            "640×480 but the video's frames are 200×100",
            {"path": "images[0].width"},
        ),
        (
            coco(annotations=[{"id": 7, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]}]),
            "annotations[0] (id 7): `image_id` 99",
            {"path": "annotations[0].image_id", "field": "image_id"},
        ),
        (
            coco(annotations=[{"image_id": 1, "category_id": 5, "bbox": [1, 1, 2, 2]}]),
            "`category_id` 5",
            {"path": "annotations[0].category_id", "field": "category_id"},
        ),
        (
            coco(annotations=[{"image_id": 1, "category_id": 1, "segmentation": [[1, 2, 3, 4]]}]),
            "`bbox` must be four finite numbers",
            {"path": "annotations[0].bbox", "field": "bbox"},
        ),
        (
            coco(annotations=[{"image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 2]}]),
            "width and height must be positive",
            {"path": "annotations[0].bbox"},
        ),
        (
            coco(annotations=[{"image_id": 1, "category_id": 1, "bbox": [300, 10, 5, 5]}]),
            "lies entirely outside the 200×100 frame",
            {"path": "annotations[0].bbox"},
        ),
        (
            coco(annotations=[{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "attributes": {"track_id": -2}}]),
            "track id must be a whole number",
            {"path": "annotations[0].attributes.track_id"},
        ),
        (coco(annotations=["nope"]), "annotations[0] must be a JSON object", {"path": "annotations[0]"}),
    ],
)
def test_coco_refusals_name_the_place(text, message, details):
    error = refused(parse_coco, text, geometry=GEOMETRY)
    assert message in error.message
    assert {k: v for k, v in error.details.items() if k in details} == details


def test_unknown_geometry_skips_the_frame_checks():
    text = coco(annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [500, 500, 10, 10]}])
    box = parse_coco(text, geometry=FrameGeometry()).boxes[0]
    assert (box.x1, box.x2) == (500, 510)


# ---- MOT ----------------------------------------------------------------------------------------


def test_mot_rows_are_read_with_1_based_frames_tracks_and_classes():
    text = "1,5,10,20,30,40,1,1,0.8\n\n3,-1,0,0,10,10,1,2,1.0,extra\n2,6,1,1,2,2,0,1,1\n"
    parsed = parse_mot(text, geometry=GEOMETRY, classes=CLASSES)
    assert [(b.frame_index, b.track_id, b.class_name) for b in parsed.boxes] == [(0, 5, "box"), (2, None, "disc")]
    assert (parsed.boxes[0].x2, parsed.boxes[0].y2) == (40, 60)
    assert parsed.skipped == {"ignored": 1}, "conf 0 marks an entry MOT does not evaluate"


def test_mot_without_a_class_needs_a_single_class_list():
    text = "1,1,10,20,30,40,0.9,-1,-1,-1\n2,1,11,21,30,40\n"
    parsed = parse_mot(text, geometry=GEOMETRY, classes={1: "pedestrian"})
    assert [b.class_name for b in parsed.boxes] == ["pedestrian", "pedestrian"]
    error = refused(parse_mot, text, geometry=GEOMETRY, classes=CLASSES)
    assert error.details == {"line": 1, "field": "class"} and "no class (-1)" in error.message


@pytest.mark.parametrize(
    ("text", "message", "details"),
    [
        ("1,1,10,20\n", "expected at least 6", {"line": 1}),
        ("frame,id,x,y,w,h\n", "`frame` must be a whole number, got 'frame'", {"line": 1, "field": "frame"}),
        ("1,1,1,1,2,2,1,1\n0,1,1,1,2,2,1,1\n", "`frame` is 1-based", {"line": 2, "field": "frame"}),
        ("31,1,1,1,2,2,1,1\n", "past the video's last frame", {"line": 1}),
        ("1.5,1,1,1,2,2,1,1\n", "`frame` must be a whole number", {"line": 1, "field": "frame"}),
        ("1,-3,1,1,2,2,1,1\n", "`id` must be -1", {"line": 1, "field": "id"}),
        ("1,1,abc,1,2,2,1,1\n", "`left` must be a number", {"line": 1, "field": "left"}),
        ("1,1,1,1,nan,2,1,1\n", "`width` must be a number", {"line": 1, "field": "width"}),
        ("1,1,1,1,-2,2,1,1\n", "width and height must be positive", {"line": 1}),
        ("1,1,1,1,2,2,1,7\n", "class 7 is not in the class list (1: box, 2: disc)", {"line": 1, "field": "class"}),
        ("1,4,1,1,2,2,1,1\n1,4,5,5,2,2,1,1\n", "track 4 appears twice in frame 1 (first on line 1)", {"line": 2}),
        ("1,1,500,1,2,2,1,1\n", "lies entirely outside", {"line": 1}),
        ('1,1,1,1,2,2,1,"1\n', "not CSV", {"line": 1}),
        ("1,1,1,1,2,2,1,1\x00\n", "`class` must be a whole number", {"line": 1, "field": "class"}),
    ],
)
def test_mot_refusals_name_the_line(text, message, details):
    error = refused(parse_mot, text, geometry=GEOMETRY, classes=CLASSES)
    assert message in error.message
    assert {k: v for k, v in error.details.items() if k in details} == details


@pytest.mark.parametrize(
    ("text", "classes"),
    [
        ("person, car ,bike", {1: "person", 2: "car", 3: "bike"}),
        ('{"1": "person", "7": "car"}', {1: "person", 7: "car"}),
    ],
)
def test_class_lists(text, classes):
    assert parse_class_list(text) == classes


@pytest.mark.parametrize("text", ["", "a,,b", "a,", '{"x": "car"}', '{"1": ""}', "{nope"])
def test_bad_class_lists(text):
    assert refused(parse_class_list, text).details == {"field": "classes"}


# ---- Choosing the parser ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "text", "expected"),
    [
        ("ref.json", "", "coco"),
        ("gt.txt", "{", "mot"),
        ("gt.CSV", "", "mot"),
        ("upload", '  {"images": []}', "coco"),
        ("upload", "1,1,1,1,2,2", "mot"),
    ],
)
def test_format_detection(filename, text, expected):
    assert detect_format(filename=filename, text=text) == expected


def test_a_file_without_boxes_is_refused():
    error = refused(parse_reference, text=coco(annotations=[]), file_format="coco", geometry=GEOMETRY, mot_classes={})
    assert "no boxes" in error.message
