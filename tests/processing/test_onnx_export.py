"""The ONNX export cache: one file per weights and shape, written nowhere else."""

import shutil
from pathlib import Path

import pytest

from processing.detector import Detector, DetectorConfig, export_onnx

pytestmark = pytest.mark.django_db


def onnx_files(folder: Path) -> set[Path]:
    return set(folder.glob("*.onnx"))


@pytest.mark.parametrize("trained", [False, True], ids=["untrained network", "weights on disk"])
def test_export_lands_in_the_cache_only(trained, tmp_path, settings, monkeypatch):
    settings.DETECTOR_ONNX_CACHE_DIR = str(tmp_path / "cache")
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    weights = ""
    if trained:
        weights = str(weights_dir / "detector.pt")
        shutil.copy(Path(settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt", weights)
    working_dir = tmp_path / "cwd"
    working_dir.mkdir()
    monkeypatch.chdir(working_dir)  # where ultralytics would write an untrained network's export
    detector = Detector(DetectorConfig.from_settings(weights=weights, backend="onnx"))

    path = export_onnx(detector, input_height=64, input_width=96)

    assert path.parent == Path(settings.DETECTOR_ONNX_CACHE_DIR) and path.is_file()
    assert export_onnx(detector, input_height=64, input_width=96) == path, "the second call reuses the file"
    assert not onnx_files(working_dir) and not onnx_files(weights_dir)
    assert not list(Path(settings.DETECTOR_ONNX_CACHE_DIR).glob("*.tmp"))
