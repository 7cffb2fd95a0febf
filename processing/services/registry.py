"""The model registry: registering weights after proving they load, and finding the default."""

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from audit.services import audit_record
from mediaplatform.service_errors import ServiceError
from processing.detector import Detector, DetectorConfig, DetectorUnavailable, file_sha256
from processing.models import DetectorModel, Framework
from processing.weights_cache import WeightsMismatch, local_weights_path
from processing.weights_loading import WeightsRefused, onnx_metadata
from videos.media_store import MediaObjectMissing

logger = logging.getLogger(__name__)


class InvalidWeights(Exception):
    pass


def weights_inspect(*, path: str, image_size: int) -> dict:
    """Load weights as the workers would: their class names, framework and input size. Raises InvalidWeights.

    The detector unpickles `.pt` files through the restricted loader (processing.weights_loading), so a file
    that names code outside ultralytics' model classes is refused here without any of it running. An `.onnx`
    file (an ultralytics export) is a graph, not a pickle: its class names and input size come from its
    metadata, and it must open in ONNX Runtime.
    """
    try:
        detector = Detector(DetectorConfig.from_settings(weights=path, image_size=image_size, backend="torch"))
    except DetectorUnavailable as exc:
        # A refusal's reason is about the file's content; the path is where this server happened to keep it.
        reason = exc.__cause__ if isinstance(exc.__cause__, WeightsRefused) else exc
        raise InvalidWeights(str(reason)) from exc
    details = {"class_names": {str(k): v for k, v in detector.class_names.items()}}
    if path.lower().endswith(".onnx"):
        details.update(framework=Framework.ONNX, input_size=max(onnx_metadata(path)["image_size"]))
    else:
        details.update(framework=Framework.PYTORCH, input_size=image_size)
    return details


def inspect_uploaded_weights(*, weights, image_size: int) -> tuple[dict, str]:
    """Load uploaded weights as the workers would: their class names and SHA-256. Raises InvalidWeights."""
    suffix = os.path.splitext(getattr(weights, "name", "") or "")[1] or ".pt"
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        for chunk in weights.chunks():
            handle.write(chunk)
        handle.flush()
        details = weights_inspect(path=handle.name, image_size=image_size)
        sha256 = file_sha256(handle.name)
    weights.seek(0)
    return details, sha256


def _take_default_from_others(*, model_pk: int | None) -> None:
    """The one-default rule: the model being made the default takes the flag from whichever model had it, in the
    caller's transaction (the detector_model_single_default constraint refuses a second default outright)."""
    DetectorModel.objects.filter(is_default=True).exclude(pk=model_pk).update(is_default=False)


def _model_save(
    *,
    name: str,
    version: str,
    weights,
    filename: str,
    input_size: int,
    is_default: bool,
    description: str,
    sha256: str,
    class_names: dict,
    actor: AbstractBaseUser | None,
    framework: str = Framework.PYTORCH,
) -> DetectorModel:
    """Store proven weights as a registered model (the only default when asked), with its audit row."""
    with transaction.atomic():
        if is_default:
            _take_default_from_others(model_pk=None)
        model = DetectorModel(
            name=name,
            version=version,
            framework=framework,
            input_size=input_size,
            is_default=is_default,
            description=description,
            sha256=sha256,
            class_names=class_names,
        )
        model.weights.save(filename, weights, save=False)
        model.save()
        audit_record(
            action="detector_model.create",
            obj=model,
            actor=actor,
            new_values={"name": name, "version": version, "sha256": sha256, "is_default": is_default},
        )
    return model


def detector_model_register(
    *, name: str, version: str, weights_path: str, image_size: int, is_default: bool = False, description: str = ""
) -> DetectorModel:
    details = weights_inspect(path=weights_path, image_size=image_size)
    with open(weights_path, "rb") as handle:
        return _model_save(
            name=name,
            version=version,
            weights=File(handle),
            filename=Path(weights_path).name,
            input_size=details["input_size"],
            framework=details["framework"],
            is_default=is_default,
            description=description,
            sha256=file_sha256(weights_path),
            class_names=details["class_names"],
            actor=None,
        )


def detector_model_default() -> DetectorModel | None:
    """The default model, registering the configured weights on first use."""
    model = DetectorModel.objects.filter(is_default=True).first()
    if model is not None or not settings.DETECTOR_WEIGHTS:
        return model
    path = Path(settings.DETECTOR_WEIGHTS)
    if not path.is_file():
        logger.warning("DETECTOR_WEIGHTS %s does not exist; runs use the untrained architecture", path)
        return None
    try:
        return detector_model_register(
            name=path.stem,
            version=file_sha256(path)[:12],
            weights_path=str(path),
            image_size=settings.DETECTOR_IMAGE_SIZE,
            is_default=True,
            description="Registered from DETECTOR_WEIGHTS on first use.",
        )
    except IntegrityError:
        # Another process registered it first.
        return DetectorModel.objects.filter(is_default=True).first()
    except InvalidWeights as exc:
        # Broken weights must not refuse uploads: the run uses DETECTOR_WEIGHTS as configured
        # and fails in the recovery matrix (model error, then review), where the error is shown.
        logger.error("DETECTOR_WEIGHTS %s do not load, so they are not registered: %s", path, exc)
        return None


def detector_config_for(
    model: DetectorModel | None, *, image_size: int | None = None, fetch_weights: bool = True
) -> DetectorConfig:
    """The detector configuration that runs `model` (None: the configured weights).

    With `fetch_weights` the weights are a local file (from the object store, a copy cached by content hash:
    processing.weights_cache); without it the configuration is only read for its options and name (the web
    side queueing a run), and its `weights` is the storage name, which nothing loads.
    """
    if model is None:
        return DetectorConfig.from_settings(**({"image_size": image_size} if image_size else {}))
    weights = model.weights.name
    if fetch_weights:
        weights = str(_local_weights(model))
    return DetectorConfig.from_settings(weights=weights, image_size=image_size or model.input_size, name=str(model))


def _local_weights(model: DetectorModel) -> Path:
    """The model's weights on this host. A store that cannot be reached is raised as it is (a resource error,
    retried); weights that are gone or not the registered bytes are the model's failure."""
    try:
        return local_weights_path(name=model.weights.name, sha256=model.sha256)
    except MediaObjectMissing as exc:
        raise DetectorUnavailable(f"The weights of {model} are missing from storage ({model.weights.name}).") from exc
    except WeightsMismatch as exc:
        raise DetectorUnavailable(f"The weights of {model} were changed in storage: {exc}.") from exc


class ModelRefused(ServiceError):
    pass


def detector_model_create(
    *,
    actor: AbstractBaseUser,
    name: str,
    version: str,
    weights: UploadedFile,
    input_size: int = 640,
    is_default: bool = False,
    description: str = "",
) -> DetectorModel:
    """Load the uploaded weights as the workers would, then register them. Raises ModelRefused."""
    if DetectorModel.objects.filter(name=name, version=version).exists():
        raise ModelRefused(code="conflict", message=f"{name} v{version} is registered already.", status_code=409)
    try:
        details, sha256 = inspect_uploaded_weights(weights=weights, image_size=input_size)
    except InvalidWeights as exc:
        raise ModelRefused(code="invalid_weights", message=f"These weights do not load: {exc}", status_code=422)
    try:
        return _model_save(
            name=name,
            version=version,
            weights=weights,
            filename=os.path.basename(weights.name or "weights.pt"),
            input_size=details["input_size"],
            framework=details["framework"],
            is_default=is_default,
            description=description,
            sha256=sha256,
            class_names=details["class_names"],
            actor=actor,
        )
    except IntegrityError:
        raise ModelRefused(code="conflict", message=f"{name} v{version} is registered already.", status_code=409)


def detector_model_update(*, actor: AbstractBaseUser, model_id: int, **changes) -> DetectorModel:
    """Change a model's description, default flag or input size. Raises DetectorModel.DoesNotExist."""
    with transaction.atomic():
        model = DetectorModel.objects.select_for_update().get(pk=model_id)
        old = {field: getattr(model, field) for field in changes}
        if changes.get("is_default"):
            _take_default_from_others(model_pk=model.pk)
        for field, value in changes.items():
            setattr(model, field, value)
        model.save(update_fields=list(changes) or None)
        audit_record(action="detector_model.update", obj=model, actor=actor, old_values=old, new_values=changes)
    return model


def detector_model_save_edited(*, model: DetectorModel, is_default: bool) -> DetectorModel:
    """Save a model as the admin's form left it (new weights already proven by the form), made the default or not
    by the one-default rule; the admin writes its own audit rows."""
    with transaction.atomic():
        if is_default:
            _take_default_from_others(model_pk=model.pk)
        model.is_default = is_default
        model.save()
    return model
