"""The demo caption grammar: distinct captions, every fact said, articles, scene wordings."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data.demo.grammar import (
    Fact,
    SceneThing,
    adjective,
    article,
    colour_fact,
    join_and,
    object_captions,
    part_fact,
    phrase_fact,
    scene_captions,
)


def _marked_facts() -> list[Fact]:
    """Facts whose every wording carries a unique marker word, so a caption shows which it mentions."""
    return [
        colour_fact("colour", "red"),
        adjective("height", ("tallish", "tallish-looking"), rank=2),
        part_fact("legs", "legs", ("legs",), ("leggy", "very leggy"), ("leggy-legged",)),
        phrase_fact("arms", post=("with armsy rests",), pred=("has armsy rests",), pre=("armsy",)),
        part_fact("back", "back", ("backy",), ("slatted",), singular=True),
    ]


MARKERS = {
    "colour": ("red", "crimson", "scarlet"),
    "height": ("tallish",),
    "legs": ("leggy",),
    "arms": ("armsy",),
    "back": ("backy",),
}


@pytest.mark.parametrize("seed", range(20))
def test_object_captions_are_distinct_and_cover_every_fact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    captions = object_captions(rng, ("chair", "seat"), _marked_facts(), count=6)
    assert len(captions) == len(set(captions)) == 6
    text = " ".join(captions)
    for name, words in MARKERS.items():
        assert any(w in text for w in words), f"{name} never mentioned in {captions}"
    assert all(c == " ".join(c.split()) for c in captions)  # no double spaces
    assert all(any(n in c for n in ("chair", "seat")) for c in captions)  # every caption names the object


def test_object_captions_vary_the_subset_of_facts() -> None:
    rng = np.random.default_rng(3)
    sizes = []
    for _ in range(30):
        for caption in object_captions(rng, ("chair",), _marked_facts(), count=6):
            sizes.append(sum(any(w in caption for w in words) for words in MARKERS.values()))
    assert min(sizes) <= 2 and max(sizes) >= 4  # some captions say little, some say a lot


def test_object_captions_are_deterministic() -> None:
    a = object_captions(np.random.default_rng(7), ("chair",), _marked_facts(), count=6)
    b = object_captions(np.random.default_rng(7), ("chair",), _marked_facts(), count=6)
    c = object_captions(np.random.default_rng(8), ("chair",), _marked_facts(), count=6)
    assert a == b
    assert a != c


def test_parts_merge_and_singular_parts_take_an_article() -> None:
    rng = np.random.default_rng(0)
    facts = [
        part_fact("thick", "legs", ("legs",), ("thick",)),
        part_fact("black", "legs", ("legs",), ("black",)),
        part_fact("back", "back", ("back",), ("slatted",), singular=True),
    ]
    seen = set()
    for _ in range(200):
        seen.update(object_captions(rng, ("chair",), facts, count=5))
    text = " | ".join(seen)
    assert "with thick black legs" in text
    assert "with a slatted back" in text
    assert "with slatted back" not in text


def test_articles_and_lists() -> None:
    assert article("armchair") == "an" and article("red chair") == "a" and article("ivory cube") == "an"
    assert (
        join_and(["a"]) == "a"
        and join_and(["a", "b"]) == "a and b"
        and join_and(["a", "b", "c"]) == "a, b and c"
    )


THINGS = [
    SceneThing(("circle",), "blue", "large"),
    SceneThing(("square",), "yellow", "small"),
    SceneThing(("star",), "red", "small"),
]


@pytest.mark.parametrize(
    "layout,n", [("single", 1), ("row", 2), ("column", 2), ("row", 3), ("column", 3), ("triangle", 3)]
)
def test_scene_captions_distinct_and_first_names_every_object(layout: str, n: int) -> None:
    for seed in range(10):
        captions = scene_captions(np.random.default_rng(seed), THINGS[:n], layout, count=5, cell=(0, 2))
        assert len(set(captions)) == 5
        for noun in ("circle", "square", "star")[:n]:
            assert noun in captions[0], (noun, captions[0])


def test_scene_relations_are_worded_from_both_sides() -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        seen.update(scene_captions(rng, THINGS[:2], "row", count=5))
    text = " | ".join(seen)
    assert "left of" in text and "right of" in text
    assert "above" not in text and "below" not in text  # a row never says above/below
    two_of_three = set()
    for _ in range(40):
        two_of_three.update(scene_captions(rng, THINGS, "row", count=5))
    assert not any(c.startswith("two ") for c in two_of_three)  # never miscounts a three-object scene
