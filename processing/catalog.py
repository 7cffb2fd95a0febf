"""The official pretrained ultralytics COCO detectors a staff user can install by name.

This is data, not a download: installing one (processing.services.model_install) fetches `file_name` from
MODEL_DOWNLOAD_BASE_URL and proves it loads before registering it.

`file_size_mb` is the size ultralytics publishes for the release asset (rounded; the installer trusts the
server's Content-Length and its own size cap, not this figure). `cpu_fps` is the network's forward pass alone
(PyTorch, fused, batch 1, one thread as the workers use on this 2-core machine, a 720p frame letterboxed to
640x384), measured on the architecture built from ultralytics' own yaml (`yolo11n.yaml`, ...): the weights could
not be downloaded where it was measured, and speed depends on the architecture only. bench/models.py measures
the whole pipeline for the models actually installed.
"""

from dataclasses import dataclass

COCO_CLASS_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

SPEED_MEASURED_ON = "2026-12-02, AMD EPYC, 2 cores (1 inference thread), PyTorch CPU, 640x384 input"


@dataclass(frozen=True)
class CatalogModel:
    name: str
    file_name: str
    file_size_mb: float
    parameters_m: float
    cpu_fps: float
    input_size: int = 640
    class_names: tuple[str, ...] = COCO_CLASS_NAMES

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "file_name": self.file_name,
            "file_size_mb": self.file_size_mb,
            "parameters_m": self.parameters_m,
            "input_size": self.input_size,
            "class_names": list(self.class_names),
            "cpu_fps": self.cpu_fps,
            "cpu_fps_measured_on": SPEED_MEASURED_ON,
        }


CATALOG: dict[str, CatalogModel] = {
    model.name: model
    for model in (
        CatalogModel(name="yolo11n", file_name="yolo11n.pt", file_size_mb=5.4, parameters_m=2.6, cpu_fps=12.4),
        CatalogModel(name="yolo11s", file_name="yolo11s.pt", file_size_mb=18.4, parameters_m=9.4, cpu_fps=4.7),
        CatalogModel(name="yolo11m", file_name="yolo11m.pt", file_size_mb=38.8, parameters_m=20.1, cpu_fps=2.3),
        CatalogModel(name="yolov8n", file_name="yolov8n.pt", file_size_mb=6.2, parameters_m=3.2, cpu_fps=16.4),
        CatalogModel(name="yolov8s", file_name="yolov8s.pt", file_size_mb=21.5, parameters_m=11.2, cpu_fps=6.1),
    )
}


def catalog_entry(name: str) -> CatalogModel | None:
    return CATALOG.get(name)


def catalog_list() -> list[dict]:
    return [model.as_dict() for model in CATALOG.values()]


def catalog_with_installed() -> list[dict]:
    """The catalog, each entry marked with whether a model of its name is registered."""
    from processing.models import DetectorModel

    installed = set(DetectorModel.objects.filter(name__in=CATALOG).values_list("name", flat=True))
    return [{**entry, "installed": entry["name"] in installed} for entry in catalog_list()]
