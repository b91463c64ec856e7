"""The embedded demo data, generated (never downloaded) and deterministic from a seed.

- ``shapes-demo``: procedural coloured meshes of eleven families (``shapes.py``), rendered from
  several viewpoints, six captions each from a grammar with synonyms and varied word order
  (``grammar.py``), in the spirit of Text2Shape's *Primitives* set.
- ``scenes-demo``: 128 px images of one to three coloured 2D objects in a layout (``scenes.py``),
  five captions each, in the spirit of Flickr30K's five captions per image.

Colour and size words are in ``palette.py``; :func:`generate_demo` (``generate.py``) writes both
sets into a workspace and its catalogue.
"""

from engine.data.demo.generate import (
    GENERATOR_VERSION,
    SCENES_DATASET,
    SHAPES_DATASET,
    DemoError,
    DemoPart,
    DemoSummary,
    assign_splits,
    generate_demo,
)
from engine.data.demo.scenes import SceneSpec, plan_scenes
from engine.data.demo.shapes import ShapeSpec, plan_shapes

__all__ = [
    "GENERATOR_VERSION",
    "SCENES_DATASET",
    "SHAPES_DATASET",
    "DemoError",
    "DemoPart",
    "DemoSummary",
    "SceneSpec",
    "ShapeSpec",
    "assign_splits",
    "generate_demo",
    "plan_scenes",
    "plan_shapes",
]
