"""Demo shapes: the plan reaches every family, colour and variant; meshes are coloured, Y-up, stable."""

from __future__ import annotations

import io
from collections import Counter, defaultdict

import numpy as np
import pytest
import trimesh

from engine.data.demo.palette import COLOUR_JITTER, COLOUR_NAMES, COLOURS
from engine.data.demo.shapes import CAPTIONS_PER_SHAPE, FAMILIES, mesh_glb, plan_shapes, shape_captions


@pytest.fixture(scope="module")
def plan() -> list:
    return plan_shapes(600, seed=0)


def test_default_plan_reaches_every_family_and_colour(plan: list) -> None:
    families = Counter(s.family for s in plan)
    assert len(families) >= 8 and set(families) == set(FAMILIES)
    assert {"chair", "table"} <= set(families)
    assert min(families.values()) >= 50  # balanced
    assert len({s.colour for s in plan}) >= 10
    for family in FAMILIES:
        assert {s.colour for s in plan if s.family == family} == set(COLOUR_NAMES), family


def test_every_attribute_has_variants_and_parts_differ_in_colour(plan: list) -> None:
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in plan:
        for k, v in s.attrs.items():
            values[(s.family, k)].add(v)
    for (family, attr), seen in values.items():
        assert len(seen) >= 2, (family, attr, seen)
    assert values[("chair", "armrests")] == {"with", "without"}
    assert values[("chair", "legs")] == values[("table", "legs")] == {"thin", "thick"}
    assert values[("chair", "height")] == {"tall", "short"} and values[("chair", "width")] == {
        "wide",
        "narrow",
    }
    for family in ("chair", "table", "stool", "bench", "lamp"):
        two_tone = [s for s in plan if s.family == family and len(set(s.colours.values())) == 2]
        one_tone = [s for s in plan if s.family == family and len(set(s.colours.values())) == 1]
        assert two_tone and one_tone, family
    assert len({s.signature() for s in plan}) >= 0.95 * len(plan)  # items rarely repeat exactly


def test_attributes_are_shared_combinatorially(plan: list) -> None:
    by_family_colour = Counter((s.family, s.colour) for s in plan)
    assert min(by_family_colour.values()) >= 4  # "a red chair" matches several items


def test_plan_is_deterministic_and_seeded() -> None:
    a, b, c = plan_shapes(40, seed=0), plan_shapes(40, seed=0), plan_shapes(40, seed=1)
    assert [s.signature() for s in a] == [s.signature() for s in b]
    assert [s.signature() for s in a] != [s.signature() for s in c]


def test_meshes_are_byte_identical_for_a_seed_and_differ_across_seeds() -> None:
    specs = plan_shapes(11, seed=0)
    for s in specs:
        assert mesh_glb(s, 0)[0] == mesh_glb(s, 0)[0]
    assert any(mesh_glb(s, 0)[0] != mesh_glb(s, 1)[0] for s in specs)


def test_captions_distinct_deterministic_and_mention_the_family(plan: list) -> None:
    nouns = {
        "chair": ("chair", "seat"),
        "table": ("table",),
        "stool": ("stool",),
        "bench": ("bench", "seat"),
        "lamp": ("lamp",),
        "shelf": ("shelf", "book", "shelving"),
    }
    for s in plan:
        captions = shape_captions(s, seed=0)
        assert len(set(captions)) == len(captions) == CAPTIONS_PER_SHAPE >= 5
        for caption in captions:
            assert any(n in caption for n in nouns.get(s.family, ("",))), caption
    assert shape_captions(plan[0], 0) == shape_captions(plan[0], 0)
    assert shape_captions(plan[0], 0) != shape_captions(plan[0], 1)


def test_two_tone_captions_mention_the_second_colour(plan: list) -> None:
    for s in [s for s in plan if s.family == "chair" and s.colours["legs"] != s.colours["body"]][:10]:
        legs = COLOURS[s.colours["legs"]].synonyms
        assert any(w in c for c in shape_captions(s, 0) for w in legs), (s.colours, shape_captions(s, 0))


def _load(data: bytes) -> trimesh.Scene:
    return trimesh.load(io.BytesIO(data), file_type="glb", force="scene")


def test_chair_mesh_has_coloured_parts_and_is_y_up(plan: list) -> None:
    chair = next(
        s
        for s in plan
        if s.family == "chair"
        and s.attrs["height"] == "tall"
        and s.attrs["width"] == "narrow"
        and s.colours["legs"] != s.colours["body"]
    )
    data, parts = mesh_glb(chair, 0)
    assert {"seat", "back", "legs"} <= set(parts)
    scene = _load(data)
    extents = scene.bounds[1] - scene.bounds[0]
    assert extents[1] > extents[0] and extents[1] > extents[2]  # a tall narrow chair stands along +y
    for name, group in (("seat", "body"), ("legs", "legs")):
        geometry = scene.geometry[name]
        colours = np.unique(np.asarray(geometry.visual.vertex_colors)[:, :3], axis=0)
        assert len(colours) == 1
        expected = np.array(COLOURS[chair.colours[group]].rgb)
        assert np.abs(colours[0].astype(int) - expected).max() <= COLOUR_JITTER + COLOUR_JITTER // 3


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_builds_a_low_poly_mesh(family: str, plan: list) -> None:
    for s in [s for s in plan if s.family == family][:6]:
        data, parts = mesh_glb(s, 0)
        scene = _load(data)
        faces = sum(len(g.faces) for g in scene.geometry.values())
        assert 0 < faces < 6000, (s.key, faces)
        assert set(parts) == set(scene.geometry)
        assert set(parts) <= set(FAMILIES[family].parts)
