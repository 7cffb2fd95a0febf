"""The one way this project turns a weights file into a network: ultralytics' restricted loader, always.

A `.pt` file is a pickle, and unpickling runs whatever callables the file names. ultralytics unpickles with
`weights_only=False` unless `ULTRALYTICS_SAFE_LOAD` was set when it was first imported, so a crafted file
uploaded as weights would run its code in whichever process loads it (web, worker, management command).
Every load here goes through torch's `weights_only=True` unpickler with ultralytics' allow-list of its own
model classes, whatever the environment says, and a file that names anything else is refused with
`WeightsRefused`, whose message is written for the staff user who supplied the file.
"""

import contextlib
import logging
import os
import pickle
import re
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

SAFE_LOAD_ENVIRONMENT = "ULTRALYTICS_SAFE_LOAD"
WEIGHTS_SUFFIX = ".pt"
ARCHITECTURE_SUFFIXES = (".yaml", ".yml")

_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_training_patch_lock = threading.Lock()


class WeightsRefused(Exception):
    """A weights file the restricted loader will not load; the message says why, for whoever supplied it."""


def safe_loading_enforce() -> None:
    """Turn ultralytics' restricted loading on for this process and the processes it starts.

    ultralytics reads the switch from the environment once, when it is first imported, and every load it
    makes on its own (validation, export, tracking, the trainer's checkpoints) follows that module flag, so
    the flag is set on the imported modules as well as in the environment children inherit.
    """
    os.environ[SAFE_LOAD_ENVIRONMENT] = "1"
    import torch.serialization
    import ultralytics.nn.tasks as ultralytics_tasks
    import ultralytics.utils as ultralytics_utils

    if not hasattr(torch.serialization, "get_unsafe_globals_in_checkpoint"):
        # On such a torch ultralytics quietly falls back to a full unpickle: refuse to load anything instead.
        raise WeightsRefused(
            f"This installation's PyTorch ({torch.__version__}) cannot load weights safely; weights are not loaded."
        )
    ultralytics_utils.SAFE_LOAD = True
    ultralytics_tasks.SAFE_LOAD = True


def _refusal_reason(exc: BaseException) -> str:
    """What was wrong with the file, in words for the person who supplied it."""
    causes = []
    current: BaseException | None = exc
    while current is not None and current not in causes:
        causes.append(current)
        current = current.__cause__ or current.__context__
    for cause in causes:
        if isinstance(cause, pickle.UnpicklingError):
            names = sorted(set(_REFUSED_GLOBAL.findall(str(cause))))
            if names:
                return (
                    f"the file refers to code outside the model classes a checkpoint may contain "
                    f"({', '.join(names)}), so it was not loaded; only weights saved by ultralytics are accepted."
                )
            return "the file is not a PyTorch checkpoint (it is not a pickle torch can read)."
    text = " ".join(str(cause) for cause in causes)
    if "TorchScript" in text:
        return "the file is a TorchScript archive; register the PyTorch weights (.pt) saved by ultralytics."
    if "references types outside" in text:
        return "the file holds no ultralytics model, only other objects; it was not loaded."
    if any(isinstance(cause, ModuleNotFoundError) for cause in causes):
        missing = next(cause.name for cause in causes if isinstance(cause, ModuleNotFoundError))
        return f"the checkpoint needs the Python module {missing!r}, which this platform does not have."
    return "the file is not a PyTorch checkpoint: it is empty, truncated or of another format."


def _refuse(path: Path, exc: BaseException) -> WeightsRefused:
    reason = _refusal_reason(exc)
    logger.warning("weights %s refused: %s (%s: %s)", path, reason, type(exc).__name__, exc)
    return WeightsRefused(reason[0].upper() + reason[1:])


def _weights_path(source: str | os.PathLike) -> Path:
    path = Path(source)
    if path.suffix.lower() != WEIGHTS_SUFFIX:
        kind = f"{path.suffix} files" if path.suffix else "files without an extension"
        raise WeightsRefused(f"Only PyTorch weights ({WEIGHTS_SUFFIX}) saved by ultralytics are loaded, not {kind}.")
    if not path.is_file():
        raise FileNotFoundError(f"Model weights not found at {path}")
    return path


def yolo_load(source: str | os.PathLike, *, task: str = "detect"):
    """An ultralytics `YOLO` from weights (`.pt`, restricted unpickling; `.onnx`, an ultralytics export) or an
    architecture file (`.yaml`).

    An architecture file builds a randomly initialised network and unpickles nothing. Raises
    WeightsRefused for a file the restricted loader refuses, FileNotFoundError for a missing one.
    """
    safe_loading_enforce()
    import torch
    from ultralytics import YOLO

    if str(source).lower().endswith(ARCHITECTURE_SUFFIXES):
        return YOLO(str(source), task=task)
    if str(source).lower().endswith(ONNX_SUFFIX):
        # Proven an ultralytics detection export first; ultralytics then runs it with ONNX Runtime (no pickle).
        onnx_metadata(source)
        return YOLO(str(source), task=task)
    path = _weights_path(source)
    try:
        yolo = YOLO(str(path), task=task)
    except MemoryError:
        raise
    except Exception as exc:
        raise _refuse(path, exc) from exc
    if not isinstance(yolo.model, torch.nn.Module):
        raise WeightsRefused("The file holds no ultralytics model; it was not loaded.")
    return yolo


def checkpoint_load(source: str | os.PathLike) -> dict:
    """A checkpoint's dictionary, unpickled by the restricted loader. Raises WeightsRefused."""
    safe_loading_enforce()
    from ultralytics.nn.tasks import torch_safe_load

    path = _weights_path(source)
    try:
        checkpoint, _ = torch_safe_load(str(path), safe_only=True)
    except MemoryError:
        raise
    except Exception as exc:
        raise _refuse(path, exc) from exc
    return checkpoint


def _checkpoint_load_for_ultralytics(file, *args, **kwargs):
    """Stands in for ultralytics' own full unpickle of a training checkpoint (`weights_only=False`)."""
    return checkpoint_load(file)


@contextlib.contextmanager
def ultralytics_training_reloads_restricted() -> Iterator[None]:
    """While ultralytics trains, its re-reads of the checkpoints it wrote go through the restricted loader too.

    The trainer's final step (stripping the optimizer before validating the best epoch) reads `last.pt` and
    `best.pt` back with a full unpickle that the restricted-loading switch does not cover.
    """
    safe_loading_enforce()
    import ultralytics.utils.torch_utils as torch_utils

    with _training_patch_lock:
        original = torch_utils.torch_load
        torch_utils.torch_load = _checkpoint_load_for_ultralytics
    try:
        yield
    finally:
        with _training_patch_lock:
            torch_utils.torch_load = original


ONNX_SUFFIX = ".onnx"


def onnx_metadata(source: str | os.PathLike) -> dict:
    """Class names, input size and batch shape of an ONNX detector exported by ultralytics. Raises WeightsRefused.

    An ONNX file is a protobuf graph of operators, not a pickle: reading it runs no code of the file's choosing.
    The class names and input size come from the metadata ultralytics' exporter writes (Python literals, read
    with `ast.literal_eval`, which evaluates no code either).
    """
    import ast

    import onnx

    path = Path(source)
    if path.suffix.lower() != ONNX_SUFFIX:
        raise WeightsRefused(f"Only ONNX files ({ONNX_SUFFIX}) are read as ONNX, not {path.suffix or 'no suffix'}.")
    if not path.is_file():
        raise FileNotFoundError(f"Model weights not found at {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        logger.warning("ONNX weights %s refused: %s", path, exc)
        raise WeightsRefused("The file is not an ONNX model: it is empty, truncated or of another format.") from exc
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    if "names" not in metadata:
        raise WeightsRefused("The ONNX file names no classes: export it with ultralytics (yolo export format=onnx).")
    if metadata.get("task", "detect") != "detect":
        raise WeightsRefused(f"The ONNX file is a {metadata['task']} model; only detection models are run here.")
    if metadata.get("end2end") == "True":
        raise WeightsRefused("End-to-end exports (NMS inside the graph) are not supported; export without nms.")
    try:
        names = ast.literal_eval(metadata["names"])
        image_size = ast.literal_eval(metadata.get("imgsz", "[640, 640]"))
    except (ValueError, SyntaxError) as exc:
        raise WeightsRefused("The ONNX file's class names or input size cannot be read.") from exc
    if not isinstance(names, dict) or not names:
        raise WeightsRefused("The ONNX file's class names are not a mapping of class ids to names.")
    if isinstance(image_size, int):
        image_size = [image_size, image_size]
    inputs = model.graph.input
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        raise WeightsRefused("The ONNX file does not take one batch of images (N, 3, H, W).")
    return {
        "class_names": {int(key): str(value) for key, value in names.items()},
        "image_size": [int(side) for side in image_size],
        "input_shape": [dim.dim_value or None for dim in inputs[0].type.tensor_type.shape.dim],
    }
