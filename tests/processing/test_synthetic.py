import json
from pathlib import Path

import av
import numpy as np
import pytest

from processing.evaluation.metrics import evaluate_detections
from processing.synthetic import CLASS_NAMES, make_scene, render_frame, write_synthetic_video, write_yolo_dataset

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "processing" / "weights" / "default-detector.pt"
SCENE_SEEDS = [(7, 0, index) for index in range(12)]


def test_same_seed_renders_the_same_pixels_and_boxes():
    first = render_frame(scene=make_scene(seed=(7, 0, 3)), frame_index=11)
    again = render_frame(scene=make_scene(seed=(7, 0, 3)), frame_index=11)
    assert np.array_equal(first.image_rgb, again.image_rgb)
    assert first.boxes == again.boxes


def test_other_seeds_render_other_scenes():
    images = [render_frame(scene=make_scene(seed=seed), frame_index=0).image_rgb for seed in SCENE_SEEDS[:4]]
    assert all(not np.array_equal(images[0], other) for other in images[1:])


@pytest.mark.parametrize("seed", SCENE_SEEDS)
def test_boxes_lie_inside_the_frame(seed):
    scene = make_scene(seed=seed, width=320, height=240)
    for frame_index in (0, 29, 59):
        for box in render_frame(scene=scene, frame_index=frame_index).boxes:
            assert 0 <= box.x1 < box.x2 <= 320
            assert 0 <= box.y1 < box.y2 <= 240
            assert 0 <= box.class_id < len(CLASS_NAMES)


@pytest.mark.parametrize("seed", SCENE_SEEDS)
def test_each_box_is_the_tight_bound_of_its_objects_drawn_pixels(seed):
    scene = make_scene(seed=seed)
    frame = render_frame(scene=scene, frame_index=17, degrade=False)
    for box in frame.boxes:
        colour = scene.objects[box.object_id].colour_rgb
        rows, columns = np.nonzero(np.all(frame.image_rgb == colour, axis=-1))
        assert (columns.min(), rows.min(), columns.max() + 1, rows.max() + 1) == (box.x1, box.y1, box.x2, box.y2)


def test_objects_move_and_change_scale_over_a_clip():
    scene = make_scene(seed=(7, 2, 0), frame_count=60)
    start = {box.object_id: box for box in render_frame(scene=scene, frame_index=0).boxes}
    end = {box.object_id: box for box in render_frame(scene=scene, frame_index=59).boxes}
    assert any((start[key].x1, start[key].y1) != (end[key].x1, end[key].y1) for key in start.keys() & end.keys())
    assert any((start[key].x2 - start[key].x1) != (end[key].x2 - end[key].x1) for key in start.keys() & end.keys())


def test_yolo_dataset_has_an_image_and_normalised_labels_per_scene(tmp_path):
    dataset = write_yolo_dataset(directory=tmp_path / "data", seed=5, train_images=6, validation_images=2)
    assert len(list((dataset.directory / "images" / "train").glob("*.jpg"))) == 6
    assert len(list((dataset.directory / "labels" / "val").glob("*.txt"))) == 2
    assert "  4: cross" in dataset.data_yaml.read_text()
    rows = [
        line.split()
        for path in (dataset.directory / "labels" / "train").glob("*.txt")
        for line in path.read_text().splitlines()
    ]
    assert rows
    for class_id, *coordinates in rows:
        assert int(class_id) in range(len(CLASS_NAMES))
        assert all(0.0 < float(value) <= 1.0 for value in coordinates)


def test_video_has_every_frame_and_its_ground_truth(tmp_path):
    video = write_synthetic_video(path=tmp_path / "clip.mp4", seed=11, frame_count=12, width=320, height=240)
    with av.open(str(video.path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 12
    assert frames[0].shape == (240, 320, 3)
    assert {box.frame_index for box in video.ground_truth} <= set(range(12))
    assert video.ground_truth


def test_committed_default_weights_match_their_recorded_provenance():
    from processing.synthetic.training import file_sha256

    provenance = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert provenance["sha256"] == file_sha256(DEFAULT_WEIGHTS)
    assert provenance["class_names"] == list(CLASS_NAMES)
    assert "train_default_model" in provenance["command"]


def test_committed_default_weights_find_the_objects_of_a_held_out_video(tmp_path):
    from processing.detector import Detector, DetectorConfig
    from processing.evaluation.video_detections import detect_video

    video = write_synthetic_video(path=tmp_path / "held-out.mp4", seed=4242, frame_count=4)
    detector = Detector(
        DetectorConfig(
            weights=str(DEFAULT_WEIGHTS),
            architecture="yolov8n.yaml",
            image_size=256,
            confidence=0.25,
            device="cpu",
            backend="torch",  # the ONNX path has its own tests; exporting here would only slow this one down
        )
    )
    assert set(detector.class_names.values()) == set(CLASS_NAMES)
    predictions = detect_video(detector=detector, path=video.path)
    report = evaluate_detections(predictions=predictions, ground_truth=video.ground_truth)
    assert report.recall >= 0.5
    assert report.precision >= 0.5
