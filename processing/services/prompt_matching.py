"""Reading a media analysis prompt: which of the chosen model's classes it asks about.

A detector answers questions about its own class names and nothing else, so a prompt ("count the people and
bicycles") is matched word by word against them: singular or plural ("cars" -> car), two-word names ("traffic
lights" -> traffic light) and common synonyms ("people" -> person, "bikes" -> bicycle). Words that only frame
the question ("count", "how", "the") are left out; every other word that names no class is reported back, so a
client asking for "drones" learns the model has no such class instead of getting an empty count.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from processing.catalog import COCO_CLASS_NAMES
from processing.models import DetectorModel
from processing.services.registry import detector_model_default

MAX_PROMPT_WORDS = 200

# Words that phrase a question rather than name a thing.
QUESTION_WORDS = frozenset(
    [
        "a",
        "about",
        "all",
        "also",
        "an",
        "and",
        "any",
        "anything",
        "appear",
        "appeared",
        "appears",
        "are",
        "as",
        "at",
        "be",
        "been",
        "being",
        "both",
        "but",
        "by",
        "can",
        "clip",
        "count",
        "counted",
        "counting",
        "counts",
        "detect",
        "detected",
        "detecting",
        "detection",
        "detections",
        "did",
        "do",
        "does",
        "each",
        "every",
        "find",
        "for",
        "frame",
        "frames",
        "from",
        "get",
        "give",
        "happening",
        "has",
        "have",
        "how",
        "how's",
        "i",
        "identify",
        "image",
        "images",
        "in",
        "into",
        "is",
        "it",
        "its",
        "list",
        "many",
        "me",
        "much",
        "number",
        "numbers",
        "of",
        "on",
        "or",
        "photo",
        "picture",
        "please",
        "scene",
        "see",
        "seen",
        "show",
        "spot",
        "tell",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "total",
        "track",
        "tracked",
        "tracking",
        "video",
        "videos",
        "visible",
        "was",
        "were",
        "what",
        "what's",
        "when",
        "where",
        "which",
        "who",
        "whole",
        "with",
        "within",
        "you",
        "your",
    ]
)

# Everyday words for a class, each mapped to the class name it means (COCO's spelling).
SYNONYMS: Mapping[str, str] = {
    "people": "person",
    "persons": "person",
    "human": "person",
    "humans": "person",
    "man": "person",
    "men": "person",
    "woman": "person",
    "women": "person",
    "child": "person",
    "children": "person",
    "kid": "person",
    "kids": "person",
    "pedestrian": "person",
    "pedestrians": "person",
    "bike": "bicycle",
    "bikes": "bicycle",
    "cycle": "bicycle",
    "cycles": "bicycle",
    "automobile": "car",
    "automobiles": "car",
    "motorbike": "motorcycle",
    "motorbikes": "motorcycle",
    "scooter": "motorcycle",
    "scooters": "motorcycle",
    "plane": "airplane",
    "planes": "airplane",
    "aeroplane": "airplane",
    "aeroplanes": "airplane",
    "aircraft": "airplane",
    "lorry": "truck",
    "lorries": "truck",
    "ship": "boat",
    "ships": "boat",
    "puppy": "dog",
    "puppies": "dog",
    "kitten": "cat",
    "kittens": "cat",
    "television": "tv",
    "televisions": "tv",
    "phone": "cell phone",
    "phones": "cell phone",
    "cellphone": "cell phone",
    "cellphones": "cell phone",
    "mobile": "cell phone",
    "smartphone": "cell phone",
    "smartphones": "cell phone",
    "sofa": "couch",
    "sofas": "couch",
    "table": "dining table",
    "tables": "dining table",
    "notebook": "laptop",
    "bag": "handbag",
    "bags": "handbag",
    "ball": "sports ball",
    "balls": "sports ball",
    "plant": "potted plant",
    "plants": "potted plant",
    "hydrant": "fire hydrant",
    "hydrants": "fire hydrant",
    "glass": "wine glass",
    "glasses": "wine glass",
    "teddy": "teddy bear",
    "computer": "laptop",
    "computers": "laptop",
    "bus": "bus",
    "buses": "bus",
    "busses": "bus",
    "sheep": "sheep",
    "mice": "mouse",
    "knives": "knife",
}


@dataclass(frozen=True)
class PromptMatch:
    classes: list[str] = field(default_factory=list)  # the model's class names asked about, in prompt order
    unmatched_words: list[str] = field(default_factory=list)  # words naming no class, in prompt order


def _singular(word: str) -> list[str]:
    """The forms a plural may come from, most likely first ("ties" -> tie, ty; "boxes" -> box; "cars" -> car)."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms += [word[:-3] + "y", word[:-1]]
    if word.endswith("es") and len(word) > 3:
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        forms.append(word[:-1])
    return forms


def _lookup(word: str, names: Mapping[str, str]) -> str | None:
    for form in _singular(word):
        if form in names:
            return names[form]
        synonym = SYNONYMS.get(form)
        if synonym is not None and synonym in names:
            return names[synonym]
    return None


def prompt_words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?", prompt.lower())[:MAX_PROMPT_WORDS]


def prompt_match(*, prompt: str, class_names: Iterable[str]) -> PromptMatch:
    """The classes among `class_names` the prompt names, and the words of it that name none."""
    names = {" ".join(prompt_words(name.replace("_", " "))): name for name in class_names if name}
    words = prompt_words(prompt)
    classes: list[str] = []
    unmatched: list[str] = []
    index = 0
    while index < len(words):
        # A two-word class ("traffic light", "cell phone", "teddy bear") is tried before its first word alone.
        if index + 1 < len(words):
            first, second = words[index], words[index + 1]
            pair = _lookup(f"{first} {second}", names) or next(
                (names[f"{first} {form}"] for form in _singular(second) if f"{first} {form}" in names), None
            )
            if pair is not None:
                if pair not in classes:
                    classes.append(pair)
                index += 2
                continue
        word = words[index]
        index += 1
        found = _lookup(word, names)
        if found is not None:
            if found not in classes:
                classes.append(found)
        elif word not in QUESTION_WORDS and word not in unmatched:
            unmatched.append(word)
    return PromptMatch(classes=classes, unmatched_words=unmatched)


def model_class_names(model_name: str | None) -> list[str]:
    """The class names of the registered model `model_name` (the default model when None).

    An unregistered default (the untrained architecture the platform falls back on) detects COCO's classes.
    Raises DetectorModel.DoesNotExist for a name no registered model has.
    """
    if model_name:
        model = DetectorModel.objects.filter(name=model_name).order_by("-is_default", "-created_at").first()
        if model is None:
            raise DetectorModel.DoesNotExist(model_name)
    else:
        model = detector_model_default()
    return class_names_of(model)


def class_names_of(model: DetectorModel | None) -> list[str]:
    """What `model` detects; COCO's classes for the untrained architecture (no registered model)."""
    if model is None or not model.class_names:
        return list(COCO_CLASS_NAMES)
    return [str(name) for name in model.class_names.values()]
