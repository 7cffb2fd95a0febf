"""OpenVINO on CPU: the ONNX export compiled at f32, bf16 or int8, with the input conversion inside the graph.

Precisions:
- f32: the exported network as it is.
- bf16: the same network with OpenVINO's bf16 inference hint; only offered where the CPU reports BF16 among its
  optimisation capabilities (AMX, or AVX-512 bf16), since elsewhere OpenVINO would emulate it slower than f32.
- int8: post-training quantisation with NNCF, calibrated on frames the platform renders itself (the synthetic
  scene generator), cached beside the ONNX export per weights, input shape and precision.

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
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

F32, BF16, INT8 = "f32", "bf16", "int8"
PRECISIONS = (F32, BF16, INT8)
MANIFEST = "manifest.json"
CALIBRATION_FRAMES = 24  # NNCF's statistics settle well before this on YOLO-sized networks; more only costs time
CALIBRATION_SEED = 4242  # a fixed seed: the same weights always quantise to the same model


class OpenVinoUnavailable(Exception):
    """OpenVINO (or NNCF, for int8) is not installed, or cannot compile for this CPU."""


class CorruptExport(Exception):
    """A cached export whose files do not match the checksums written with them."""


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


def _verified_model_path(folder: Path) -> Path:
    """The IR file of a cached export whose files all match the manifest written last; CorruptExport otherwise."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        for name, expected in manifest["files"].items():
            if _sha256(folder / name) != expected:
                raise CorruptExport(f"{folder / name} does not match its checksum")
        return folder / manifest["model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptExport(f"{folder} is incomplete: {exc}") from exc


def _save_atomically(model, target: Path) -> None:
    """Write the IR (xml + bin) and its manifest into a private folder, then move the folder into place whole."""
    import openvino

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        openvino.save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
        files = {name: _sha256(staging / name) for name in ("model.xml", "model.bin")}
        (staging / MANIFEST).write_text(json.dumps({"model": "model.xml", "files": files}))
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
    if target.exists():
        try:
            return _verified_model_path(target)
        except CorruptExport as exc:
            logger.warning("rebuilding a corrupt cached export: %s", exc)
            shutil.rmtree(target, ignore_errors=True)
    _save_atomically(build(), target)
    return _verified_model_path(target)


# -- reading, quantising, compiling ---------------------------------------------


def read_onnx(path: Path):
    """The ONNX export as an OpenVINO model with a free batch and the export's own image shape."""
    try:
        return core().read_model(str(path))
    except OpenVinoUnavailable:
        raise
    except Exception as exc:
        raise CorruptExport(f"{path} does not read as an ONNX model: {exc}") from exc


def calibration_frames(*, input_height: int, input_width: int, count: int = CALIBRATION_FRAMES) -> list[np.ndarray]:
    """Frames the platform renders itself, letterboxed as the pipeline does, as uint8 NHWC batches of one."""
    from processing.synthetic import make_scene, render_frame

    frames = []
    per_scene = 4
    for scene_number in range((count + per_scene - 1) // per_scene):
        scene = make_scene(seed=(CALIBRATION_SEED, scene_number), width=input_width, height=input_height)
        for frame_index in range(per_scene):
            if len(frames) == count:
                break
            frames.append(render_frame(scene=scene, frame_index=frame_index * 7).image_rgb[None])
    return frames


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


def int8_export(
    *,
    onnx_path: Path,
    cache_dir: Path,
    identity: str,
    input_height: int,
    input_width: int,
    quantize: Callable = quantize_int8,
) -> Path:
    target = cache_dir / f"{identity}-{input_height}x{input_width}-openvino-int8"

    def build():
        frames = calibration_frames(input_height=input_height, input_width=input_width)
        logger.info("quantising %s to int8 on %d calibration frames", onnx_path.name, len(frames))
        return quantize(read_onnx(onnx_path), frames=frames)

    return cached_export(target, build)


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
    """One compiled network for one input shape: `run(batch)` takes uint8 NHWC frames, returns the raw output."""

    def __init__(self, compiled, *, precision: str):
        self.compiled = compiled
        self.precision = precision
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
) -> OpenVinoRunner:
    """A runner at `precision`; `onnx_path()` exports (again) when called, so a corrupt export is rebuilt once."""
    path = onnx_path()
    try:
        model = read_onnx(path)
    except CorruptExport as exc:
        logger.warning("rebuilding a corrupt ONNX export: %s", exc)
        path.unlink(missing_ok=True)
        path = onnx_path()
        model = read_onnx(path)
    if precision == INT8:
        ir = int8_export(
            onnx_path=path,
            cache_dir=cache_dir,
            identity=identity,
            input_height=input_height,
            input_width=input_width,
            quantize=quantize,
        )
        model = core().read_model(str(ir))
    compiled = compile_model(
        model, precision=precision, threads=threads, input_height=input_height, input_width=input_width
    )
    return OpenVinoRunner(compiled, precision=precision)
