"""What a media analysis request's `config`, `prompt` and `options` make of its detection run."""

from mediaplatform.service_errors import ServiceError
from processing.services.jobs import (
    MODEL_NOT_LOOKED_UP,
    RunOptionsRefused,
    detector_model_for_run,
    job_options_parse,
)
from processing.services.prompt_matching import class_names_of, prompt_match
from videos.runs import RUN_OPTION_NAMES

# The `config` keys an analysis reads: the run options of its detection run.
CONFIG_KEYS = ("model", "classes", "confidence", "frame_step", "max_fps", "track")
# The `options` keys it reads: whether the status lists the detections of the asked classes.
OPTION_KEYS = ("include_detections",)


class AnalysisConfigRefused(ServiceError):
    default_code = "validation_error"
    default_status_code = 422


def _unknown_key(field: str, given: dict, known: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise AnalysisConfigRefused(
            f"{field}: unknown key {unknown[0]!r}; {field} takes {', '.join(known)}.",
            details={field: {key: ["Unknown key."] for key in unknown}},
        )


def analysis_run_plan(*, prompt: str, config: dict, options: dict) -> dict:
    """The first run's options and what the prompt asked: keyword arguments of media_analysis_create.

    `config` names run options (CONFIG_KEYS); without `classes`, the classes the prompt names are kept (all of
    the model's when it names none). Raises AnalysisConfigRefused (422) naming the key or field at fault.
    """
    _unknown_key("config", config, CONFIG_KEYS)
    _unknown_key("options", options, OPTION_KEYS)
    if not isinstance(options.get("include_detections", False), bool):
        raise AnalysisConfigRefused("options.include_detections must be a boolean.")
    model_name = config.get("model")
    well_formed = model_name is None or (isinstance(model_name, str) and len(model_name) <= 100)
    try:
        # Looked up once: the prompt's matching and the run options' check read the same model.
        model = detector_model_for_run(model_name or None) if well_formed else MODEL_NOT_LOOKED_UP
    except ValueError:
        raise AnalysisConfigRefused(f"config.model: no registered model is called {model_name!r}.") from None
    class_names = class_names_of(None if model is MODEL_NOT_LOOKED_UP else model)
    match = prompt_match(prompt=prompt, class_names=class_names)
    run_options = {key: config[key] for key in RUN_OPTION_NAMES if key in config}
    if not config.get("classes") and match.classes:
        run_options["classes"] = match.classes
    try:
        parsed = job_options_parse(run_options, model=model)
    except RunOptionsRefused as exc:
        raise AnalysisConfigRefused(f"config.{exc.message}", details=exc.details) from None
    # The untrained fallback model has no registered class list for the run options to check against.
    unknown = [name for name in parsed.classes if name not in set(class_names)]
    if unknown:
        raise AnalysisConfigRefused(
            f"config.classes: the model has no class {', '.join(repr(name) for name in unknown)}."
        )
    asked = [name for name in config["classes"] if name in parsed.classes] if config.get("classes") else match.classes
    return {"run_options": run_options, "prompt_classes": asked, "unmatched_prompt_words": match.unmatched_words}
