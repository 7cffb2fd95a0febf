"""Object detection with ultralytics YOLO networks, loaded once per worker process from a path on disk.

The fast path skips ultralytics' per-image predictor: frames arrive already
scaled by the decoder, are padded into one batch tensor, run through the
network (PyTorch, ONNX Runtime or OpenVINO on CPU), and go through ultralytics'
own NMS. Tracking needs ultralytics' stateful tracker and uses `YOLO.track`.

With `backend="auto"` on CPU, the backend and precision for trained weights are
measured on first use of each input shape (processing/backends/chooser.py) and
remembered per weights, shape and host in the database; on CUDA it is PyTorch fp16.
"""

import functools
import hashlib
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from celery.signals import worker_init
from django.conf import settings

from processing.backends import chooser
from processing.weights_loading import ONNX_SUFFIX, WeightsRefused, onnx_metadata, yolo_load

logger = logging.getLogger(__name__)

STRIDE = 32
PAD_VALUE = 114  # ultralytics' letterbox grey, so results match its own preprocessing
TORCH, ONNX, OPENVINO = "torch", "onnx", "openvino"
BACKENDS = ("auto", TORCH, ONNX, OPENVINO)
PRECISIONS = ("f32", "bf16", "int8")  # OpenVINO's; PyTorch runs f32 on CPU, f16 on CUDA


class DetectorUnavailable(Exception):
    """The configured model cannot be loaded."""


class DetectorError(Exception):
    """The model failed while running on a batch."""


@dataclass(frozen=True)
class DetectorConfig:
    weights: str
    architecture: str
    image_size: int
    confidence: float
    device: str
    max_detections: int = 300
    iou_threshold: float = 0.7
    backend: str = "auto"  # "auto" (measured on CPU, PyTorch fp16 on CUDA), "torch", "onnx" or "openvino"
    precision: str = ""  # OpenVINO's: "f32", "bf16" or "int8"; "" picks bf16 where the CPU has it, else f32
    name: str = ""

    @classmethod
    def from_settings(cls, **overrides) -> "DetectorConfig":
        values = {
            "weights": settings.DETECTOR_WEIGHTS,
            "architecture": settings.DETECTOR_ARCHITECTURE,
            "image_size": settings.DETECTOR_IMAGE_SIZE,
            "confidence": settings.DETECTOR_CONFIDENCE,
            "device": settings.DETECTOR_DEVICE,
            "max_detections": settings.DETECTOR_MAX_DETECTIONS,
            "iou_threshold": settings.DETECTOR_IOU_THRESHOLD,
            "backend": settings.DETECTOR_BACKEND,
            "precision": getattr(settings, "DETECTOR_PRECISION", ""),
        }
        values.update(overrides)
        return cls(**values)

    @property
    def model_name(self) -> str:
        if self.name:
            return self.name
        if self.weights:
            return Path(self.weights).name
        return f"{Path(self.architecture).stem} (untrained)"


@dataclass(frozen=True)
class BackendPlan:
    """The runtime and numeric precision that run the network for one input shape."""

    backend: str
    precision: str


@dataclass(frozen=True)
class FrameDetections:
    boxes_xyxy: np.ndarray  # (n, 4) float pixels in the original frame
    confidences: np.ndarray  # (n,)
    class_ids: np.ndarray  # (n,) int
    track_ids: np.ndarray | None = None  # (n,) int when tracking


@dataclass(frozen=True)
class InputGeometry:
    """How original frames map onto the network's input."""

    source_width: int
    source_height: int
    scaled_width: int
    scaled_height: int
    input_width: int
    input_height: int

    @property
    def scale(self) -> float:
        return self.scaled_width / self.source_width

    @classmethod
    def for_source(cls, *, width: int, height: int, image_size: int) -> "InputGeometry":
        ratio = min(image_size / width, image_size / height)
        scaled_width = max(1, round(width * ratio))
        scaled_height = max(1, round(height * ratio))
        return cls(
            source_width=width,
            source_height=height,
            scaled_width=scaled_width,
            scaled_height=scaled_height,
            input_width=math.ceil(scaled_width / STRIDE) * STRIDE,
            input_height=math.ceil(scaled_height / STRIDE) * STRIDE,
        )


def pick_device(requested: str) -> str:
    if requested:
        return requested
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def cpu_inference_threads(backend: str) -> int:
    """Threads for the model on CPU: this job's share of the cores when the host runs several jobs at once.

    ONNX Runtime and OpenVINO share the cores well with the decoder thread, so they take the whole share
    (measured 1.4x faster than one thread on 2 cores); PyTorch's OpenMP threads stall at every barrier when
    they outnumber the free cores, so it leaves one core to the decoder and the database.
    """
    if settings.DETECTOR_CPU_THREADS:
        return settings.DETECTOR_CPU_THREADS
    cores = os.cpu_count() or 2
    share = max(1, cores // max(1, getattr(settings, "DETECTOR_CONCURRENT_JOBS", 1)))
    return share if backend in (ONNX, OPENVINO) else max(1, share - 1)


@worker_init.connect
def _share_the_cores_among_the_pool(sender=None, **kwargs) -> None:
    """A Celery worker runs as many jobs at once as its pool has processes: unless DETECTOR_CONCURRENT_JOBS says
    otherwise, each job's model takes that share of the cores (the pool's processes fork after this)."""
    concurrency = getattr(sender, "concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0 and "DETECTOR_CONCURRENT_JOBS" not in os.environ:
        settings.DETECTOR_CONCURRENT_JOBS = concurrency


def default_batch_size(device: str) -> int:
    configured = settings.DETECTOR_BATCH_SIZE
    if configured:
        return configured
    return 32 if device.startswith("cuda") else 4


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _OnnxSession:
    session: object
    input_name: str


class Detector:
    def __init__(self, config: DetectorConfig):
        import torch

        self.config = config
        self.device = pick_device(config.device)
        self.half = self.device.startswith("cuda")
        if not self.half:
            torch.set_num_threads(cpu_inference_threads("torch"))
        self._onnx_file: str | None = None
        if config.weights:
            if not Path(config.weights).is_file():
                raise DetectorUnavailable(f"Model weights not found at {config.weights}")
            if str(config.weights).lower().endswith(ONNX_SUFFIX):
                self._init_onnx_file(config)
                return
            source = config.weights
        else:
            # An architecture file builds a randomly initialised network: the whole
            # inference path runs, offline, before trained weights exist.
            source = config.architecture
        try:
            if not config.weights:
                # Seeded, so every worker builds the same untrained network and runs agree.
                torch.manual_seed(0)
            self.yolo = yolo_load(source, task="detect")
            network = self.yolo.model
            if not isinstance(network, torch.nn.Module):
                raise DetectorUnavailable(f"{source} is not a PyTorch detection model")
            network = network.fuse() if hasattr(network, "fuse") else network
            network = network.to(self.device).eval()
            self.network = network.half() if self.half else network.float()
        except DetectorUnavailable:
            raise
        except Exception as exc:
            raise DetectorUnavailable(f"Model {source} could not be loaded: {exc}") from exc
        self.class_names = {int(k): str(v) for k, v in self.yolo.names.items()}
        self.class_count = len(self.class_names)
        if config.backend not in BACKENDS:
            raise DetectorUnavailable(f"Unknown detector backend {config.backend!r}: one of {', '.join(BACKENDS)}")
        if config.precision not in ("", *PRECISIONS):
            raise DetectorUnavailable(f"Unknown precision {config.precision!r}: one of {', '.join(PRECISIONS)}")
        fixed = self._fixed_plan()
        self.backend, self.precision = (fixed.backend, fixed.precision) if fixed else ("auto", "")
        self._plans: dict[tuple[int, int], BackendPlan] = {}
        self._openvino_runners: dict[tuple[str, int, int], object] = {}
        self._int8_calibration: dict[tuple[int, int], dict] = {}  # per input shape: what int8 was calibrated on
        self._onnx_sessions: dict[tuple[int, int], _OnnxSession] = {}
        self._tracking_geometry: InputGeometry | None = None
        logger.info("detector %s loaded on %s (%s backend)", config.model_name, self.device, self.backend)

    def _init_onnx_file(self, config: DetectorConfig) -> None:
        """Weights that are an ONNX export already: ONNX Runtime on CPU, class names from the file's metadata."""
        try:
            metadata = onnx_metadata(config.weights)
            self.yolo = yolo_load(config.weights, task="detect")  # for tracking only; loads lazily
        except WeightsRefused as exc:
            raise DetectorUnavailable(str(exc)) from exc
        self.device, self.half, self.network = "cpu", False, None
        self.backend, self.precision = ONNX, "f32"
        self._plans: dict[tuple[int, int], BackendPlan] = {}
        self._openvino_runners: dict[tuple[str, int, int], object] = {}
        self._int8_calibration: dict[tuple[int, int], dict] = {}  # per input shape: what int8 was calibrated on
        self._onnx_file = str(config.weights)
        shape = metadata["input_shape"]
        # A static export takes exactly its own batch and image shape: frames are padded up to it.
        self._onnx_fixed_batch = shape[0]
        self._onnx_fixed_size = (shape[2], shape[3]) if shape[2] and shape[3] else None
        self.class_names = metadata["class_names"]
        self.class_count = len(self.class_names)
        self._onnx_sessions: dict[tuple[int, int], _OnnxSession] = {}
        self._tracking_geometry: InputGeometry | None = None
        try:
            self._onnx_session(None)  # proves the graph loads before any run counts on it
        except Exception as exc:
            raise DetectorUnavailable(f"The ONNX model could not be loaded: {exc}") from exc
        logger.info("detector %s (ONNX file) loaded on cpu", config.model_name)

    @property
    def name(self) -> str:
        return self.config.model_name

    # -- which backend runs the network ------------------------------------------

    def _fixed_plan(self) -> BackendPlan | None:
        """The plan the configuration fixes, or None when `auto` has to measure."""
        if self.device.startswith("cuda"):
            return BackendPlan(TORCH, "f16")
        backend = self.config.backend
        if backend == TORCH:
            return BackendPlan(TORCH, "f32")
        if backend == ONNX or self._onnx_file:
            return BackendPlan(ONNX, "f32")
        if backend == OPENVINO:
            from processing.backends import openvino_backend

            return BackendPlan(OPENVINO, self.config.precision or openvino_backend.default_precision())
        if not self.config.weights:
            # An untrained network has nothing worth keeping a measurement for: its export is this process's own.
            return BackendPlan(ONNX, "f32")
        return None

    def plan_for(self, geometry: InputGeometry, *, tracking: bool = False) -> BackendPlan:
        """The backend and precision that run frames of this geometry (measured on first use under `auto`)."""
        if tracking:
            # ultralytics' tracker runs its own predictor on the PyTorch network.
            return BackendPlan(TORCH, "f16" if self.half else "f32")
        key = (geometry.input_height, geometry.input_width)
        if key not in self._plans:
            plan = self._fixed_plan() or self._choose(geometry)
            if plan == BackendPlan(OPENVINO, "int8"):
                plan = self._int8_or_fallback(plan, geometry)
            self._plans[key] = plan
        plan = self._plans[key]
        self.backend, self.precision = plan.backend, plan.precision
        return plan

    def _int8_or_fallback(self, plan: BackendPlan, geometry: InputGeometry) -> BackendPlan:
        """int8 when its accuracy guard accepts the quantisation for this shape, else OpenVINO's default precision
        (bf16 or f32); a measured choice's record gets the calibration used now (it may be a newer one)."""
        from processing.backends import openvino_backend

        try:
            self._openvino_runner(plan.precision, geometry)
        except openvino_backend.Int8Refused as exc:
            plan = BackendPlan(OPENVINO, openvino_backend.default_precision())
            logger.warning(
                "detector %s at %dx%d: int8 refused (%s); running %s/%s instead",
                self.name,
                geometry.input_width,
                geometry.input_height,
                exc.reason,
                plan.backend,
                plan.precision,
            )
        except (MemoryError, DetectorUnavailable):
            raise
        except Exception as exc:
            # As when the network fails on a batch: built here, before the first batch, to know its precision.
            raise DetectorError(f"The int8 network could not be built: {exc}") from exc
        if self.config.backend == "auto" and self.config.weights:
            from processing.services.backend_choice import backend_choice_calibration_record, this_host

            backend_choice_calibration_record(
                weights_sha256=self.weights_sha256,
                input_height=geometry.input_height,
                input_width=geometry.input_width,
                host=this_host(),
                int8_calibration=self._int8_calibration.get((geometry.input_height, geometry.input_width), {}),
            )
        return plan

    @functools.cached_property
    def weights_sha256(self) -> str:
        return file_sha256(self.config.weights)

    def candidates(self) -> list[chooser.Candidate]:
        from processing.backends import openvino_backend

        found = [chooser.Candidate(TORCH, "f32"), chooser.Candidate(ONNX, "f32")]
        return found + [chooser.Candidate(OPENVINO, precision) for precision in openvino_backend.available_precisions()]

    def _choose(self, geometry: InputGeometry) -> BackendPlan:
        from processing.services.backend_choice import backend_choice_get, backend_choice_record, this_host

        host = this_host()
        shape = {"input_height": geometry.input_height, "input_width": geometry.input_width}
        candidates = self.candidates()
        remembered = backend_choice_get(weights_sha256=self.weights_sha256, host=host, **shape)
        if remembered and chooser.Candidate(*remembered) in candidates:
            logger.info("detector %s: %s/%s, as measured before on %s", self.name, *remembered, host)
            return BackendPlan(*remembered)
        trials = self.measure_backends(geometry, candidates)
        best = chooser.fastest_accepted(trials)
        # The reference itself when nothing else could be trusted.
        plan = BackendPlan(best.backend, best.precision) if best else BackendPlan(TORCH, "f32")
        self._release_all_but(plan, geometry)
        backend_choice_record(
            weights_sha256=self.weights_sha256,
            model_name=self.name,
            host=host,
            backend=plan.backend,
            precision=plan.precision,
            model_only_fps=best.model_only_fps if best else None,
            trials=[trial.as_dict() for trial in trials],
            int8_calibration=self._int8_calibration.get((geometry.input_height, geometry.input_width), {}),
            **shape,
        )
        logger.info(
            "detector %s at %dx%d: chose %s/%s",
            self.name,
            geometry.input_width,
            geometry.input_height,
            plan.backend,
            plan.precision,
        )
        return plan

    def _release_all_but(self, plan: BackendPlan, geometry: InputGeometry) -> None:
        """Free the compiled networks the measurement built for this shape and the plan does not use."""
        shape = (geometry.input_height, geometry.input_width)
        for key in list(self._openvino_runners):
            if key[1:] == shape and (plan.backend, plan.precision) != (OPENVINO, key[0]):
                del self._openvino_runners[key]
        if plan.backend != ONNX:
            self._onnx_sessions.pop(shape, None)

    def measure_backends(self, geometry: InputGeometry, candidates: list[chooser.Candidate]) -> list[chooser.Trial]:
        """Time every candidate on a few batches and check its detections against the f32 PyTorch network's."""
        frames = chooser.agreement_frames(width=geometry.scaled_width, height=geometry.scaled_height)
        batch_size = default_batch_size(self.device)

        def detect(candidate: chooser.Candidate, images: list[np.ndarray]) -> list[FrameDetections]:
            plan = BackendPlan(candidate.backend, candidate.precision)
            found = []
            for start in range(0, len(images), batch_size):
                batch = self._pad_batch(images[start : start + batch_size], geometry)
                found += self._postprocess(
                    self._forward(plan, batch, geometry), geometry, confidence=None, class_ids=None
                )
            return found

        def forward(candidate: chooser.Candidate, batch: np.ndarray):
            return self._forward(BackendPlan(candidate.backend, candidate.precision), batch, geometry)

        reference_candidate = chooser.Candidate(TORCH, "f32")
        reference = detect(reference_candidate, frames)

        def detect_once(candidate: chooser.Candidate, images: list[np.ndarray]) -> list[FrameDetections]:
            return reference if candidate == reference_candidate else detect(candidate, images)

        return chooser.measure(
            candidates=candidates,
            detect=detect_once,
            forward=forward,
            reference=reference,
            frames=frames,
            batch=self._pad_batch(frames[:batch_size], geometry),
        )

    # -- batched detection -----------------------------------------------------

    def detect(
        self,
        images: list[np.ndarray],
        geometry: InputGeometry,
        *,
        confidence: float | None = None,
        class_ids: list[int] | None = None,
    ) -> list[FrameDetections]:
        """Detect objects in frames already scaled to `geometry` (RGB, uint8).

        A run's own `confidence` and `class_ids` (None: the model's threshold, every class) are applied in
        non-maximum suppression, so one loaded model serves runs with different options.
        """
        if not images:
            return []
        try:
            plan = self.plan_for(geometry)
            batch = self._pad_batch(images, geometry)
            raw = self._forward(plan, batch, geometry)
            return self._postprocess(raw, geometry, confidence=confidence, class_ids=class_ids)
        except (MemoryError, DetectorUnavailable):
            raise
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":
                raise
            raise DetectorError(f"The model failed on a batch of {len(images)} frames: {exc}") from exc

    def _pad_batch(self, images: list[np.ndarray], geometry: InputGeometry) -> np.ndarray:
        batch = np.full((len(images), geometry.input_height, geometry.input_width, 3), PAD_VALUE, dtype=np.uint8)
        for slot, image in enumerate(images):
            batch[slot, : image.shape[0], : image.shape[1]] = image
        return batch

    def _forward(self, plan: BackendPlan, batch: np.ndarray, geometry: InputGeometry):
        if plan.backend == OPENVINO:
            import torch

            return torch.from_numpy(self._openvino_runner(plan.precision, geometry).run(batch))
        if plan.backend == ONNX:
            return self._forward_onnx(batch, geometry)
        return self._forward_torch(batch)

    def _openvino_runner(self, precision: str, geometry: InputGeometry):
        key = (precision, geometry.input_height, geometry.input_width)
        if key not in self._openvino_runners:
            from processing.backends import openvino_backend

            height, width = key[1:]
            exports: list[Path] = []

            def onnx_path() -> Path:
                exports.append(export_onnx(self, input_height=height, input_width=width))
                return exports[-1]

            identity = export_identity(self)
            try:
                runner = openvino_backend.build_runner(
                    onnx_path=onnx_path,
                    precision=precision,
                    threads=cpu_inference_threads(OPENVINO),
                    input_height=height,
                    input_width=width,
                    cache_dir=Path(settings.DETECTOR_ONNX_CACHE_DIR),
                    identity=identity,
                    quantize=openvino_backend.quantize_int8,
                )
            except openvino_backend.Int8Refused as exc:
                self._int8_calibration[(height, width)] = exc.report
                raise
            finally:
                if not self.config.weights:
                    for path in exports:  # an untrained network's export is private to this process
                        path.unlink(missing_ok=True)
            if runner.calibration:
                self._int8_calibration[(height, width)] = runner.calibration
            self._openvino_runners[key] = runner
        return self._openvino_runners[key]

    def _forward_torch(self, batch: np.ndarray):
        import torch

        with torch.inference_mode():
            # NCHW contiguous: a permuted NHWC view makes CPU convolutions several times slower.
            tensor = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).to(self.device)
            tensor = (tensor.half() if self.half else tensor.float()).div_(255.0)
            output = self.network(tensor)
            return output[0] if isinstance(output, (list, tuple)) else output

    def _onnx_session(self, geometry: InputGeometry | None) -> _OnnxSession:
        # An ONNX file is one session whatever the geometry; PyTorch weights get one export per input shape.
        key = (0, 0) if self._onnx_file else (geometry.input_height, geometry.input_width)
        if key not in self._onnx_sessions:
            import onnxruntime

            path = (
                Path(self._onnx_file) if self._onnx_file else export_onnx(self, input_height=key[0], input_width=key[1])
            )
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = cpu_inference_threads("onnx")
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            if not self.config.weights and not self._onnx_file:
                path.unlink(missing_ok=True)  # an untrained network's export is private to this process
            self._onnx_sessions[key] = _OnnxSession(session, session.get_inputs()[0].name)
        return self._onnx_sessions[key]

    def _forward_onnx(self, batch: np.ndarray, geometry: InputGeometry):
        import torch

        onnx = self._onnx_session(geometry)
        if self._onnx_file and self._onnx_fixed_size:
            batch = self._pad_to_fixed(batch)
        tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        if self._onnx_file and self._onnx_fixed_batch and self._onnx_fixed_batch != len(tensor):
            outputs = [onnx.session.run(None, {onnx.input_name: tensor[i : i + 1]})[0] for i in range(len(tensor))]
            return torch.from_numpy(np.concatenate(outputs))
        output = onnx.session.run(None, {onnx.input_name: tensor})[0]
        return torch.from_numpy(output)

    def _pad_to_fixed(self, batch: np.ndarray) -> np.ndarray:
        """Frames padded right and below to a static export's input: boxes keep their coordinates."""
        height, width = self._onnx_fixed_size
        if batch.shape[1] > height or batch.shape[2] > width:
            raise DetectorError(
                f"Frames scaled to {batch.shape[2]}x{batch.shape[1]} do not fit this ONNX model's {width}x{height} "
                "input: run it at its own input size."
            )
        padded = np.full((batch.shape[0], height, width, 3), PAD_VALUE, dtype=np.uint8)
        padded[:, : batch.shape[1], : batch.shape[2]] = batch
        return padded

    def _postprocess(
        self, raw, geometry: InputGeometry, *, confidence: float | None, class_ids: list[int] | None
    ) -> list[FrameDetections]:
        from ultralytics.utils.nms import non_max_suppression

        kept = non_max_suppression(
            raw.float(),
            conf_thres=self.config.confidence if confidence is None else confidence,
            classes=class_ids,
            iou_thres=self.config.iou_threshold,
            max_det=self.config.max_detections,
            nc=self.class_count,
        )
        scale = geometry.scale
        results = []
        for found in kept:
            found = found.cpu().numpy()
            boxes = found[:, :4] / scale
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, geometry.source_width)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, geometry.source_height)
            results.append(
                FrameDetections(
                    boxes_xyxy=boxes.astype(np.float32),
                    confidences=found[:, 4].astype(np.float32),
                    class_ids=found[:, 5].astype(np.int64),
                )
            )
        return results

    # -- tracking --------------------------------------------------------------

    def reset_tracking(self) -> None:
        predictor = getattr(self.yolo, "predictor", None)
        if predictor is not None and getattr(predictor, "trackers", None):
            for tracker in predictor.trackers:
                tracker.reset()

    def track(
        self,
        image: np.ndarray,
        geometry: InputGeometry,
        *,
        confidence: float | None = None,
        class_ids: list[int] | None = None,
    ) -> FrameDetections:
        """Detect and follow objects in one scaled RGB frame with ByteTrack; frames must come in order."""
        try:
            result = self.yolo.track(
                np.ascontiguousarray(image[..., ::-1]),
                persist=True,
                tracker=settings.DETECTOR_TRACKER,
                imgsz=max(geometry.input_width, geometry.input_height),
                conf=self.config.confidence if confidence is None else confidence,
                classes=class_ids,
                iou=self.config.iou_threshold,
                max_det=self.config.max_detections,
                device=self.device,
                half=self.half,
                verbose=False,
            )[0]
        except Exception as exc:
            raise DetectorError(f"Tracking failed: {exc}") from exc
        boxes = result.boxes
        if boxes.id is None:
            # With no confirmed track ultralytics hands back the raw detections; a
            # tracked run reports tracked objects only.
            return FrameDetections(
                boxes_xyxy=np.zeros((0, 4), np.float32),
                confidences=np.zeros(0, np.float32),
                class_ids=np.zeros(0, np.int64),
                track_ids=np.zeros(0, np.int64),
            )
        track_ids = boxes.id.cpu().numpy().astype(np.int64)
        return FrameDetections(
            boxes_xyxy=(boxes.xyxy.cpu().numpy() / geometry.scale).astype(np.float32),
            confidences=boxes.conf.cpu().numpy().astype(np.float32),
            class_ids=boxes.cls.cpu().numpy().astype(np.int64),
            track_ids=track_ids,
        )


def export_identity(detector: Detector) -> str:
    """How cached exports of this detector's network are named: its weights' digest."""
    if detector.config.weights:
        return detector.weights_sha256[:16]
    return f"untrained-{os.getpid()}-{id(detector)}"  # random weights: never shared


def export_onnx(detector: Detector, *, input_height: int, input_width: int) -> Path:
    """Export the network to ONNX once per weights and input shape; later calls reuse the file."""
    cache_dir = Path(settings.DETECTOR_ONNX_CACHE_DIR)
    cache_dir.mkdir(parents=True, exist_ok=True)
    identity = export_identity(detector)
    target = cache_dir / f"{identity}-{input_height}x{input_width}.onnx"
    if target.is_file():
        return target
    # An untrained network must be exported with the very weights this process uses.
    exporter = yolo_load(detector.config.weights, task="detect") if detector.config.weights else detector.yolo
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    # ultralytics writes the export beside the weights (or, for a network built from its yaml, into the
    # working directory): a directory of our own keeps processes exporting at once from overwriting each
    # other's file, and keeps the weights' folder read-only.
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as private_dir:
        source_path = getattr(exporter.model, "pt_path", None)
        exporter.model.pt_path = str(Path(private_dir) / f"{identity}.pt")
        try:
            exported = exporter.export(
                format="onnx",
                imgsz=(input_height, input_width),
                dynamic=True,
                simplify=True,
                device="cpu",
                verbose=False,
            )
            # A move, not a rename: the cache may live on another filesystem than the export,
            # and a full disk must surface as ENOSPC (resource exhaustion), not as a model error.
            shutil.move(exported, temporary)
            temporary.replace(target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        finally:
            exporter.model.pt_path = source_path
    logger.info("exported %s to %s", detector.name, target)
    return target


@functools.lru_cache(maxsize=4)
def get_detector(config: DetectorConfig) -> Detector:
    return Detector(config)
