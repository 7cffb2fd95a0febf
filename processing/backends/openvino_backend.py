"""OpenVINO on CPU: the ONNX export compiled at f32, bf16 or int8, with the input conversion inside the graph.

Precisions:
- f32: the exported network as it is.
- bf16: the same network with OpenVINO's bf16 inference hint; only offered where the CPU reports BF16 among its
  optimisation capabilities (AMX, or AVX-512 bf16), since elsewhere OpenVINO would emulate it slower than f32.
- int8: post-training quantisation with NNCF, calibrated on frames of the platform's own completed videos (or
  frames it renders itself while the library is too small: processing/backends/calibration.py), cached beside
  the ONNX export per weights, input shape and calibration set. An accuracy guard compares the int8 network
  with the f32 one on held-out calibration frames; below OPENVINO_INT8_MIN_AGREEMENT int8 is refused
  (`Int8Refused`) and the caller runs bf16 or f32 instead.

Frames go in as the decoder hands them over (uint8, NHWC, RGB): OpenVINO's pre-processing turns them into
f32 NCHW in 0..1 inside the compiled graph, vectorised and threaded with the network, instead of a NumPy
transpose and division on the critical path.
"""

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

F32, BF16, INT8 = "f32", "bf16", "int8"
PRECISIONS = (F32, BF16, INT8)
MANIFEST = "manifest.json"
# The guard's operating point: boxes a run would keep at a low threshold, so a shift in confidence shows too.
GUARD_CONFIDENCE = 0.25
GUARD_IOU = 0.7
# Below this many f32 boxes on the held-out frames, box agreement says little: the score correlation judges alone.
GUARD_MIN_BOXES = 5


class OpenVinoUnavailable(Exception):
    """OpenVINO (or NNCF, for int8) is not installed, or cannot compile for this CPU."""


class CorruptExport(Exception):
    """A cached export whose files do not match the checksums written with them."""


class Int8Refused(Exception):
    """The int8 network disagrees with the f32 one on held-out frames past the threshold; `report` says how far."""

    def __init__(self, reason: str, report: dict):
        super().__init__(reason)
        self.reason = reason
        self.report = report


@functools.cache
def core():
    try:
        import openvino
    except ImportError as exc:  # pragma: no cover - the package is pinned in requirements.txt
        raise OpenVinoUnavailable(f"OpenVINO is not installed: {exc}") from exc
    return openvino.Core()


def cpu_capabilities() -> set[str]:
    try:
        return set(core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except OpenVinoUnavailable:
        return set()


def nncf_available() -> bool:
    try:
        import nncf  # noqa: F401
    except ImportError:
        return False
    return True


def available_precisions() -> list[str]:
    """The precisions OpenVINO can run natively on this CPU (empty without OpenVINO); which is fastest is measured."""
    capabilities = cpu_capabilities()
    if not capabilities:
        return []
    precisions = [F32]
    if "BF16" in capabilities:
        precisions.append(BF16)
    if "INT8" in capabilities and nncf_available():
        precisions.append(INT8)
    return precisions


def default_precision() -> str:
    """bf16 where the processor computes it natively (AMX or AVX-512 bf16), f32 elsewhere."""
    return BF16 if BF16 in available_precisions() else F32


# -- the int8 export cache ------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_export(folder: Path) -> tuple[Path, dict]:
    """The IR file of a cached export whose files all match the manifest written last, and the report written
    with it; CorruptExport otherwise."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        for name, expected in manifest["files"].items():
            if _sha256(folder / name) != expected:
                raise CorruptExport(f"{folder / name} does not match its checksum")
        return folder / manifest["model"], dict(manifest.get("report") or {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptExport(f"{folder} is incomplete: {exc}") from exc


def _verified_model_path(folder: Path) -> Path:
    return _verified_export(folder)[0]


def _save_atomically(model, target: Path, report: dict | None = None) -> None:
    """Write the IR (xml + bin) and its manifest into a private folder, then move the folder into place whole."""
    import openvino

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        openvino.save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
        files = {name: _sha256(staging / name) for name in ("model.xml", "model.bin")}
        (staging / MANIFEST).write_text(json.dumps({"model": "model.xml", "files": files, "report": report or {}}))
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same export first: theirs is as good as ours.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cached_export(target: Path, build: Callable[[], object]) -> Path:
    """The verified IR at `target`, built (and written atomically) when missing or corrupt."""
    return cached_export_with_report(target, lambda: (build(), {}))[0]


def cached_export_with_report(target: Path, build: Callable[[], tuple[object, dict]]) -> tuple[Path, dict]:
    """The verified IR at `target` and the report `build` gave when it made it (built when missing or corrupt)."""
    if target.exists():
        try:
            return _verified_export(target)
        except CorruptExport as exc:
            logger.warning("rebuilding a corrupt cached export: %s", exc)
            shutil.rmtree(target, ignore_errors=True)
    model, report = build()
    _save_atomically(model, target, report)
    return _verified_export(target)


# -- reading, quantising, compiling ---------------------------------------------


def read_onnx(path: Path):
    """The ONNX export as an OpenVINO model with a free batch and the export's own image shape."""
    try:
        return core().read_model(str(path))
    except OpenVinoUnavailable:
        raise
    except Exception as exc:
        raise CorruptExport(f"{path} does not read as an ONNX model: {exc}") from exc


def calibration_frames(*, input_height: int, input_width: int, count: int = 24) -> list[np.ndarray]:
    """Frames the platform renders itself, letterboxed as the pipeline does, as uint8 NHWC batches of one."""
    from processing.backends.calibration import synthetic_frames

    return synthetic_frames(input_height=input_height, input_width=input_width, count=count)


def _head_ignored_scope(model):
    """Keep the detection head's box decoding (DFL, anchors, strides, sigmoid) in float, as ultralytics does:
    quantising its additions and multiplications shifts boxes by whole pixels."""
    import nncf

    names = [op.get_friendly_name() for op in model.get_ops()]
    heads = sorted({name.split("/")[1] for name in names if name.startswith("/model.") and name.count("/") > 1})
    head = max(heads, key=lambda part: int(part.split(".")[1]) if part.split(".")[1].isdigit() else -1)
    return nncf.IgnoredScope(
        patterns=[f"/{head}/.*Add.*", f"/{head}/.*Sub.*", f"/{head}/.*Mul.*", f"/{head}/.*Div.*", f"/{head}/dfl.*"],
        types=["Sigmoid"],
        validate=False,
    )


def quantize_int8(model, *, frames: Iterable[np.ndarray]):
    """Post-training int8 quantisation of `model` (f32 NCHW input in 0..1) calibrated on uint8 NHWC frames."""
    import nncf

    frames = list(frames)

    def to_input(frame: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(frame.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0

    return nncf.quantize(
        model,
        nncf.Dataset(frames, to_input),
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(frames),
        ignored_scope=_head_ignored_scope(model),
    )


# -- the accuracy guard -----------------------------------------------------------


@dataclass(frozen=True)
class _Boxes:
    boxes_xyxy: np.ndarray
    class_ids: np.ndarray


def guard_detections(raw: np.ndarray) -> list[_Boxes]:
    """Raw YOLO outputs (batch, 4 + classes, anchors) through ultralytics' NMS at the guard's operating point."""
    import torch
    from ultralytics.utils.nms import non_max_suppression

    kept = non_max_suppression(
        torch.from_numpy(raw).float(), conf_thres=GUARD_CONFIDENCE, iou_thres=GUARD_IOU, nc=raw.shape[1] - 4
    )
    return [_Boxes(found[:, :4].numpy(), found[:, 5].numpy().astype(int)) for found in kept]


def score_correlation(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Pearson correlation of each anchor's best class score between two raw outputs: near 1 when the int8
    network ranks locations as the f32 one does, whether or not anything crosses a detection threshold."""
    first = reference[:, 4:, :].max(axis=1).ravel().astype(np.float64)
    second = candidate[:, 4:, :].max(axis=1).ravel().astype(np.float64)
    if first.std() == 0 or second.std() == 0:
        return 1.0 if np.allclose(first, second, atol=1e-3) else 0.0
    return float(np.corrcoef(first, second)[0, 1])


def int8_guard(
    *, reference_model, quantized_model, frames: list[np.ndarray], input_height: int, input_width: int, threads: int
) -> dict:
    """How closely the int8 network follows the f32 one on `frames` (held out of calibration).

    Figures: box recall, precision and F1 (same class, IoU >= 0.5, one to one) at GUARD_CONFIDENCE, and the
    correlation of per-anchor class scores. `agreement`, the figure the threshold applies to, is the lower of
    the F1 and the correlation, or the correlation alone when the f32 network finds under GUARD_MIN_BOXES boxes.
    """
    from processing.backends.chooser import matched_boxes

    if not frames:
        return {"agreement": None, "held_out_frames": 0}
    shape = {"input_height": input_height, "input_width": input_width, "threads": threads}
    reference_runner = OpenVinoRunner(compile_model(reference_model.clone(), precision=F32, **shape), precision=F32)
    int8_runner = OpenVinoRunner(compile_model(quantized_model.clone(), precision=INT8, **shape), precision=INT8)
    batch = np.concatenate(frames)
    reference_raw, int8_raw = reference_runner.run(batch), int8_runner.run(batch)
    reference_found, int8_found = guard_detections(reference_raw), guard_detections(int8_raw)
    reference_boxes = sum(len(found.class_ids) for found in reference_found)
    int8_boxes = sum(len(found.class_ids) for found in int8_found)
    matches = sum(matched_boxes(ours, theirs) for ours, theirs in zip(reference_found, int8_found, strict=True))
    correlation = score_correlation(reference_raw, int8_raw)
    f1 = 2 * matches / (reference_boxes + int8_boxes) if reference_boxes + int8_boxes else 1.0
    judged_on_boxes = reference_boxes >= GUARD_MIN_BOXES
    return {
        "held_out_frames": len(frames),
        "reference_boxes": reference_boxes,
        "int8_boxes": int8_boxes,
        "box_recall": round(matches / reference_boxes, 4) if reference_boxes else None,
        "box_precision": round(matches / int8_boxes, 4) if int8_boxes else None,
        "box_f1": round(f1, 4),
        "score_correlation": round(correlation, 4),
        "agreement": round(min(f1, correlation) if judged_on_boxes else correlation, 4),
        "judged_on": "boxes and scores" if judged_on_boxes else f"scores (under {GUARD_MIN_BOXES} f32 boxes)",
    }


def min_agreement_setting() -> float:
    from django.conf import settings

    return float(getattr(settings, "OPENVINO_INT8_MIN_AGREEMENT", 0.9))


def judge(report: dict, *, min_agreement: float) -> tuple[bool, str]:
    """(accepted, reason) of an int8 export by its guard figures; judged on every load, so a changed threshold
    applies to a cached model without quantising it again."""
    figure = report.get("agreement")
    if figure is None:
        return False, "no held-out frames to check the int8 network on"
    if figure < min_agreement:
        return False, (
            f"int8 agrees with f32 at {figure:.3f} on {report.get('held_out_frames')} held-out frames "
            f"({report.get('judged_on')}), below OPENVINO_INT8_MIN_AGREEMENT {min_agreement}"
        )
    return True, ""


# -- the int8 export ------------------------------------------------------------


def int8_export(
    *,
    onnx_path: Path,
    cache_dir: Path,
    identity: str,
    input_height: int,
    input_width: int,
    quantize: Callable = quantize_int8,
    calibration=None,
    threads: int = 1,
) -> tuple[Path, dict]:
    """The cached int8 IR for this calibration set (the settings' when None) and its report: what it was
    calibrated on and the guard's figures. A library whose videos cannot be read falls back to synthetic frames."""
    from processing.backends.calibration import SYNTHETIC, CalibrationSet, CalibrationUnavailable, calibration_set

    chosen = calibration or calibration_set(input_height=input_height, input_width=input_width)
    try:
        return _int8_export_for(chosen, onnx_path, cache_dir, identity, quantize, threads)
    except CalibrationUnavailable as exc:
        logger.warning("int8 calibration on the library failed (%s): synthetic frames instead", exc)
        fallback = CalibrationSet(
            SYNTHETIC, input_height, input_width, chosen.frame_total, fallback_reason=str(exc)[:300]
        )
        return _int8_export_for(fallback, onnx_path, cache_dir, identity, quantize, threads)


def _int8_export_for(chosen, onnx_path: Path, cache_dir: Path, identity: str, quantize: Callable, threads: int):
    height, width = chosen.input_height, chosen.input_width
    target = cache_dir / f"{identity}-{height}x{width}-openvino-int8-{chosen.key}"

    def build():
        calibration, held_out = chosen.load()
        logger.info(
            "quantising %s to int8 on %d %s calibration frames (%d held out for the guard)",
            onnx_path.name,
            len(calibration),
            chosen.source,
            len(held_out),
        )
        reference = read_onnx(onnx_path)
        quantized = quantize(reference.clone(), frames=calibration)
        figures = int8_guard(
            reference_model=reference,
            quantized_model=quantized,
            frames=held_out,
            input_height=height,
            input_width=width,
            threads=threads,
        )
        return quantized, {"guard": figures}

    path, stored = cached_export_with_report(target, build)
    return path, {**stored.get("guard", {}), "calibration": chosen.describe()}


def compile_model(model, *, precision: str, threads: int, input_height: int, input_width: int):
    """Compile for the CPU with uint8 NHWC frames in, the precision's hint, and this job's share of the cores."""
    import openvino
    from openvino.preprocess import PrePostProcessor

    model.reshape([-1, 3, input_height, input_width])  # a free batch; a fixed image shape compiles faster kernels
    steps = PrePostProcessor(model)
    steps.input().tensor().set_element_type(openvino.Type.u8).set_layout(openvino.Layout("NHWC"))
    steps.input().model().set_layout(openvino.Layout("NCHW"))
    steps.input().preprocess().convert_element_type(openvino.Type.f32).scale(255.0)
    model = steps.build()
    cores = os.cpu_count() or 1
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == BF16 else "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads),
        # Pinned threads of two jobs would land on the same cores; the OS spreads unpinned ones.
        "ENABLE_CPU_PINNING": "YES" if threads >= cores else "NO",
    }
    return core().compile_model(model, "CPU", config)


class OpenVinoRunner:
    """One compiled network for one input shape: `run(batch)` takes uint8 NHWC frames, returns the raw output.

    `calibration`: for int8, what it was calibrated on and how it fared against f32 (empty otherwise)."""

    def __init__(self, compiled, *, precision: str, calibration: dict | None = None):
        self.compiled = compiled
        self.precision = precision
        self.calibration = calibration or {}
        self._request = compiled.create_infer_request()

    def run(self, batch: np.ndarray) -> np.ndarray:
        self._request.infer({0: np.ascontiguousarray(batch)}, share_inputs=True)
        return self._request.get_output_tensor(0).data.copy()


def build_runner(
    *,
    onnx_path: Callable[[], Path],
    precision: str,
    threads: int,
    input_height: int,
    input_width: int,
    cache_dir: Path,
    identity: str,
    quantize: Callable = quantize_int8,
    calibration=None,
    min_agreement: float | None = None,
) -> OpenVinoRunner:
    """A runner at `precision`; `onnx_path()` exports (again) when called, so a corrupt export is rebuilt once.

    int8 raises Int8Refused when its guard figure is below `min_agreement` (OPENVINO_INT8_MIN_AGREEMENT)."""
    path = onnx_path()
    try:
        model = read_onnx(path)
    except CorruptExport as exc:
        logger.warning("rebuilding a corrupt ONNX export: %s", exc)
        path.unlink(missing_ok=True)
        path = onnx_path()
        model = read_onnx(path)
    report = {}
    if precision == INT8:
        ir, report = int8_export(
            onnx_path=path,
            cache_dir=cache_dir,
            identity=identity,
            input_height=input_height,
            input_width=input_width,
            quantize=quantize,
            calibration=calibration,
            threads=threads,
        )
        threshold = min_agreement_setting() if min_agreement is None else min_agreement
        accepted, reason = judge(report, min_agreement=threshold)
        report.update(accepted=accepted, reason=reason, min_agreement=threshold)
        if not accepted:
            logger.warning("int8 refused for %s at %dx%d: %s", identity, input_width, input_height, reason)
            raise Int8Refused(reason, report)
        logger.info(
            "int8 for %s at %dx%d calibrated on %s frames (%s), agreement with f32 %.3f",
            identity,
            input_width,
            input_height,
            report["calibration"]["source"],
            report["calibration"]["key"],
            report["agreement"],
        )
        model = core().read_model(str(ir))
    compiled = compile_model(
        model, precision=precision, threads=threads, input_height=input_height, input_width=input_width
    )
    return OpenVinoRunner(compiled, precision=precision, calibration=report)
