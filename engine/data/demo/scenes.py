"""2D scene images of the ``scenes-demo`` set: one to three coloured objects in a layout.

Each scene is a 128 x 128 PNG on a plain light background (one of four neutral tints, not mentioned
in captions) with one to three objects; every object has a shape, a colour (``palette.py``, jittered
per object), a size and a small random turn, and is drawn with a darker outline (so white objects
stay visible). Images are drawn at twice the size and downsampled, which anti-aliases the edges.

Shapes and their caption nouns:

- circle: circle, disc, round shape
- square: square, block
- triangle: triangle, triangular shape
- star: star, five-pointed star
- hexagon: hexagon, six-sided shape
- diamond: diamond, rhombus, lozenge
- cross: cross, plus sign
- heart: heart, heart shape

Sizes: small (radius about 1/14 of the image) / large (about 1/7): small, little, tiny / large,
big, huge. Layouts (the caption grammar is in ``grammar.py``):

- ``single``: one object in one cell of a 3 x 3 grid ("a red star in the top left corner"),
- ``row``: two or three objects side by side, left to right ("a blue circle left of a small
  yellow square"),
- ``column``: two or three objects one above the other, top to bottom,
- ``triangle``: three objects, one above and two below ("a star above a circle and a square").

No two objects of a scene share both shape and colour. The first object of every scene cycles
through all (shape, colour) pairs in a seeded order, so every shape and colour appears once there
are at least 96 scenes.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from engine.data.demo import grammar
from engine.data.demo.palette import COLOUR_NAMES, jittered_rgb

SCENE_SIZE = 128
CAPTIONS_PER_SCENE = 5
SUPERSAMPLE = 2
_PLAN_STREAM, _CAPTION_STREAM = 11, 12

SHAPES: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "round shape"),
    "square": ("square", "block"),
    "triangle": ("triangle", "triangular shape"),
    "star": ("star", "five-pointed star"),
    "hexagon": ("hexagon", "six-sided shape"),
    "diamond": ("diamond", "rhombus", "lozenge"),
    "cross": ("cross", "plus sign"),
    "heart": ("heart", "heart shape"),
}
SHAPE_NAMES: tuple[str, ...] = tuple(SHAPES)
_MAX_TURN = {
    "circle": 0.0,
    "square": 10.0,
    "triangle": 10.0,
    "star": 18.0,
    "hexagon": 30.0,
    "diamond": 8.0,
    "cross": 12.0,
    "heart": 12.0,
}
BACKGROUNDS = ((214, 212, 206), (206, 212, 218), (212, 212, 212), (218, 212, 200))
RADII = {"small": (0.072, 0.092), "large": (0.128, 0.15)}  # fractions of the image side
_CENTRES = (0.17, 0.5, 0.83)  # grid cell centres, fractions of the image side
_LAYOUTS = {1: ("single",), 2: ("row", "column"), 3: ("row", "column", "triangle")}
_COUNT_P = (0.25, 0.4, 0.35)


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    x: float  # centre, fractions of the image side (0 = left / top)
    y: float
    radius: float  # fraction of the image side
    angle: float  # degrees
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class SceneSpec:
    index: int
    key: str
    layout: str
    cell: tuple[int, int]  # (column, row) of a single object; (1, 1) otherwise
    objects: tuple[SceneObject, ...]  # in layout order: left to right, top to bottom, [top, left, right]
    background: tuple[int, int, int]

    @property
    def category(self) -> str:
        n = len(self.objects)
        return f"{n} object{'s' if n > 1 else ''}"

    def relations(self) -> list[list[Any]]:
        """[i, relation, j]: object i is <relation> object j."""
        n = len(self.objects)
        if self.layout == "row":
            return [[i, "left of", j] for i in range(n) for j in range(i + 1, n)]
        if self.layout == "column":
            return [[i, "above", j] for i in range(n) for j in range(i + 1, n)]
        if self.layout == "triangle":
            return [[0, "above", 1], [0, "above", 2], [1, "left of", 2]]
        return []

    def meta(self) -> dict[str, Any]:
        objects = []
        for o in self.objects:
            d = asdict(o)
            d.pop("rgb")
            d.update(x=round(o.x, 4), y=round(o.y, 4), radius=round(o.radius, 4), angle=round(o.angle, 2))
            objects.append(d)
        meta: dict[str, Any] = {
            "count": len(self.objects),
            "layout": self.layout,
            "objects": objects,
            "relations": self.relations(),
            "shapes": sorted({o.shape for o in self.objects}),
            "colours": sorted({o.colour for o in self.objects}),
        }
        if self.layout == "single":
            meta["cell"] = list(self.cell)
        return meta


# ---- planning ----------------------------------------------------------------------------------
def _positions(
    rng: np.random.Generator, layout: str, n: int
) -> tuple[list[tuple[float, float]], tuple[int, int]]:
    def jitter(scale: float) -> float:
        return float(rng.uniform(-scale, scale))

    if layout == "single":
        cell = (int(rng.integers(3)), int(rng.integers(3)))
        return [(_CENTRES[cell[0]] + jitter(0.03), _CENTRES[cell[1]] + jitter(0.03))], cell
    if layout == "triangle":
        return [
            (0.5 + jitter(0.05), 0.22 + jitter(0.03)),
            (0.19 + jitter(0.03), 0.77 + jitter(0.03)),
            (0.81 + jitter(0.03), 0.77 + jitter(0.03)),
        ], (1, 1)
    line = int(rng.integers(3))
    slots = sorted(int(s) for s in rng.choice(3, size=n, replace=False))
    points = [(_CENTRES[s] + jitter(0.015), _CENTRES[line] + jitter(0.05)) for s in slots]
    if layout == "column":
        points = [(y, x) for x, y in points]
    return points, (1, 1)


def plan_scenes(count: int, seed: int = 0) -> list[SceneSpec]:
    """``count`` scenes; the first object cycles through every (shape, colour) pair in a seeded order."""
    pairs = [(s, c) for s in SHAPE_NAMES for c in COLOUR_NAMES]
    specs: list[SceneSpec] = []
    orders: dict[int, np.ndarray] = {}
    for index in range(count):
        cycle = index // len(pairs)
        if cycle not in orders:
            orders[cycle] = np.random.default_rng([seed, _PLAN_STREAM, 1_000_000, cycle]).permutation(
                len(pairs)
            )
        first = pairs[int(orders[cycle][index % len(pairs)])]
        rng = np.random.default_rng([seed, _PLAN_STREAM, index])
        n = int(rng.choice(3, p=_COUNT_P)) + 1
        layout = _LAYOUTS[n][int(rng.integers(len(_LAYOUTS[n])))]
        chosen = [first]
        while len(chosen) < n:
            pair = (
                SHAPE_NAMES[int(rng.integers(len(SHAPE_NAMES)))],
                COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))],
            )
            if pair not in chosen:
                chosen.append(pair)
        order = rng.permutation(n)
        points, cell = _positions(rng, layout, n)
        objects = []
        for slot, (x, y) in enumerate(points):
            shape, colour = chosen[int(order[slot])]
            size = "small" if rng.random() < 0.5 else "large"
            lo, hi = RADII[size]
            turn = _MAX_TURN[shape]
            objects.append(
                SceneObject(
                    shape,
                    colour,
                    size,
                    x,
                    y,
                    float(rng.uniform(lo, hi)),
                    float(rng.uniform(-turn, turn)),
                    jittered_rgb(colour, rng),
                )
            )
        base = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
        background = tuple(int(np.clip(c + rng.integers(-4, 5), 0, 255)) for c in base)
        specs.append(
            SceneSpec(
                index,
                f"scene-{index:05d}",
                layout,
                cell,
                tuple(objects),
                (background[0], background[1], background[2]),
            )
        )
    return specs


# ---- drawing -----------------------------------------------------------------------------------
def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Outline points of a shape centred at (cx, cy) with 'radius' r (image coordinates, y down)."""
    if shape == "square":
        pts = [(r * 1.2 * np.cos(a), r * 1.2 * np.sin(a)) for a in np.radians([45, 135, 225, 315])]
    elif shape == "triangle":
        pts = [(r * 1.2 * np.cos(a), r * 1.2 * np.sin(a) + r * 0.2) for a in np.radians([-90, 30, 150])]
    elif shape == "star":
        pts = [
            (
                (r * 1.1 if k % 2 == 0 else r * 0.47) * np.cos(a),
                (r * 1.1 if k % 2 == 0 else r * 0.47) * np.sin(a),
            )
            for k, a in enumerate(np.radians(-90 + 36 * np.arange(10)))
        ]
    elif shape == "hexagon":
        pts = [(r * 1.05 * np.cos(a), r * 1.05 * np.sin(a)) for a in np.radians(60 * np.arange(6))]
    elif shape == "diamond":
        pts = [(0.0, -1.2 * r), (0.82 * r, 0.0), (0.0, 1.2 * r), (-0.82 * r, 0.0)]
    elif shape == "cross":
        w, e = 0.36 * r, 1.08 * r
        pts = [
            (-w, -e),
            (w, -e),
            (w, -w),
            (e, -w),
            (e, w),
            (w, w),
            (w, e),
            (-w, e),
            (-w, w),
            (-e, w),
            (-e, -w),
            (-w, -w),
        ]
    elif shape == "heart":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        hx = 16 * np.sin(t) ** 3
        hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) - 2.5
        pts = list(zip(hx * r / 15.0, hy * r / 15.0, strict=True))
    else:
        raise ValueError(f"unknown scene shape {shape!r}")
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    return [(float(cx + c * x - s * y), float(cy + s * x + c * y)) for x, y in pts]


def draw_scene(spec: SceneSpec, size: int = SCENE_SIZE) -> Image.Image:
    big = size * SUPERSAMPLE
    image = Image.new("RGB", (big, big), spec.background)
    draw = ImageDraw.Draw(image)
    outline_w = max(1, round(big / 90))
    for o in spec.objects:
        cx, cy, r = o.x * big, o.y * big, o.radius * big
        outline = tuple(int(c * 0.55) for c in o.rgb)
        if o.shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=o.rgb, outline=outline, width=outline_w)
        else:
            draw.polygon(_polygon(o.shape, cx, cy, r, o.angle), fill=o.rgb, outline=outline, width=outline_w)
    return image.reduce(SUPERSAMPLE)


def scene_png(spec: SceneSpec, size: int = SCENE_SIZE) -> bytes:
    """The scene as PNG bytes (deterministic: no timestamps or metadata)."""
    buffer = io.BytesIO()
    draw_scene(spec, size).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def scene_captions(spec: SceneSpec, seed: int = 0, count: int = CAPTIONS_PER_SCENE) -> list[str]:
    """``count`` distinct captions of the scene (deterministic from the seed and its index)."""
    things = [grammar.SceneThing(SHAPES[o.shape], o.colour, o.size) for o in spec.objects]
    rng = np.random.default_rng([seed, _CAPTION_STREAM, spec.index])
    return grammar.scene_captions(rng, things, spec.layout, count, spec.cell)
