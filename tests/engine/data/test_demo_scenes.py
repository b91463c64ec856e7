"""Demo scenes: every shape and colour reachable, layouts consistent, 128 px images, stable bytes."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from engine.data.demo.palette import COLOUR_NAMES
from engine.data.demo.scenes import (
    CAPTIONS_PER_SCENE,
    SCENE_SIZE,
    SHAPE_NAMES,
    plan_scenes,
    scene_captions,
    scene_png,
)


@pytest.fixture(scope="module")
def plan() -> list:
    return plan_scenes(1000, seed=0)


def test_default_plan_reaches_every_shape_colour_layout_and_count(plan: list) -> None:
    objects = [o for s in plan for o in s.objects]
    assert {o.shape for o in objects} == set(SHAPE_NAMES) and len(SHAPE_NAMES) >= 4
    assert {o.colour for o in objects} == set(COLOUR_NAMES)
    assert {(o.shape, o.colour) for o in objects} == {(s, c) for s in SHAPE_NAMES for c in COLOUR_NAMES}
    assert {o.size for o in objects} == {"small", "large"}
    assert set(Counter(len(s.objects) for s in plan)) == {1, 2, 3}
    assert {s.layout for s in plan} == {"single", "row", "column", "triangle"}
    for s in plan:  # no two objects of a scene share shape and colour
        pairs = [(o.shape, o.colour) for o in s.objects]
        assert len(set(pairs)) == len(pairs)


def test_layout_order_matches_positions_and_relations(plan: list) -> None:
    for s in plan:
        xs, ys = [o.x for o in s.objects], [o.y for o in s.objects]
        for i, relation, j in s.relations():
            if relation == "left of":
                assert xs[i] < xs[j]
            else:
                assert relation == "above" and ys[i] < ys[j]
        meta = s.meta()
        assert meta["count"] == len(s.objects) and len(meta["objects"]) == len(s.objects)


def test_images_are_128px_not_blank_and_deterministic() -> None:
    specs = plan_scenes(16, seed=0)
    for s in specs:
        data = scene_png(s)
        assert data == scene_png(s)
        image = Image.open(io.BytesIO(data))
        assert image.size == (SCENE_SIZE, SCENE_SIZE) == (128, 128) and image.mode == "RGB"
        pixels = np.asarray(image).reshape(-1, 3)
        background = np.array(s.background)
        drawn = np.abs(pixels.astype(int) - background).max(axis=1) > 20
        assert drawn.mean() > 0.005, s.key  # objects cover part of the image ...
        assert drawn.mean() < 0.6  # ... not all of it
    other = plan_scenes(16, seed=1)
    assert [scene_png(s) for s in specs] != [scene_png(s) for s in other]


def test_captions_distinct_and_deterministic(plan: list) -> None:
    for s in plan[:300]:
        captions = scene_captions(s, seed=0)
        assert len(set(captions)) == len(captions) == CAPTIONS_PER_SCENE >= 5
    assert scene_captions(plan[5], 0) == scene_captions(plan[5], 0)
    assert scene_captions(plan[5], 0) != scene_captions(plan[5], 1)


def test_plan_is_prefix_stable() -> None:
    """A larger count keeps the first scenes, so growing the set rewrites no existing image."""
    small, large = plan_scenes(20, seed=3), plan_scenes(40, seed=3)
    assert small == large[:20]
