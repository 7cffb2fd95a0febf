"""Reading a prompt against a model's class names."""

import pytest

from processing.catalog import COCO_CLASS_NAMES
from processing.services.prompt_matching import prompt_match


@pytest.mark.parametrize(
    ("prompt", "classes", "unmatched"),
    [
        ("count the people and bicycles", ["person", "bicycle"], []),
        ("How many cars, bikes and buses are there?", ["car", "bicycle", "bus"], []),
        ("Is there a dog or a puppy?", ["dog"], []),
        ("find traffic lights and stop signs", ["traffic light", "stop sign"], []),
        ("any phones, TVs or sofas?", ["cell phone", "tv", "couch"], []),
        ("pedestrians crossing near trucks", ["person", "truck"], ["crossing", "near"]),
        ("count the drones and unicorns", [], ["drones", "unicorns"]),
        ("What is happening in this video?", [], []),
        ("", [], []),
        ("PERSON person persons people", ["person"], []),
        ("ties and knives", ["tie", "knife"], []),
    ],
)
def test_prompts_name_coco_classes(prompt, classes, unmatched):
    match = prompt_match(prompt=prompt, class_names=COCO_CLASS_NAMES)
    assert (match.classes, match.unmatched_words) == (classes, unmatched)


def test_only_the_models_own_classes_are_matched():
    names = ["helmet", "safety_vest", "person"]

    match = prompt_match(prompt="workers without helmets or safety vests, and cars", class_names=names)

    assert match.classes == ["helmet", "safety_vest"]
    assert match.unmatched_words == ["workers", "without", "cars"]


def test_synonyms_reach_a_class_only_when_the_model_has_it():
    assert prompt_match(prompt="people", class_names=["person"]).classes == ["person"]
    assert prompt_match(prompt="people", class_names=["car"]).unmatched_words == ["people"]


def test_a_huge_prompt_is_read_only_so_far():
    match = prompt_match(prompt="cars " * 100_000 + "dogs", class_names=COCO_CLASS_NAMES)
    assert match.classes == ["car"]
