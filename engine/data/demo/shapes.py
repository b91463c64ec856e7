"""Procedural coloured meshes of the ``shapes-demo`` set: families, attributes, parts, wordings.

Every item is one family with discrete attributes (the ones captions mention), one or two colours
(by colour group: e.g. ``body`` red, ``legs`` black) and continuous dimensions jittered inside the
ranges of its attributes, plus a random turn about the vertical axis. Meshes are low-poly (16-24
sections), Y-up (glTF), one glTF node per part (``seat``, ``back``, ``legs`` ...) with the part's
colour as vertex colours, so the renderer keeps per-part colours.

Rendered views are normalised into the unit sphere, so absolute size is invisible: the size words of
shapes are proportions (tall/short, wide/narrow, long/short, flat ...).

Families, attributes and their words (nouns first; colours are in ``palette.py``):

- **chair** (chair, seat, dining chair; armchair when it has arms): height tall (tall, high,
  high-backed) / short (short, low, low-backed); width wide (wide, broad, roomy) / narrow (narrow,
  slim, slender); legs thin (thin, spindly, slender, skinny) / thick (thick, sturdy, chunky, stout);
  armrests with / without (armless); back solid (solid, plain, panelled) / slatted (slatted, barred,
  spindle); colours: body (seat, back, armrests) and legs (same colour or another).
- **table** (table; dining/kitchen table when tall, coffee table when low): height tall / low; top
  long (long, rectangular, oblong) / square (square, square-topped) / round (round, circular,
  round-topped); base four legs (thin / thick) or a pedestal (single central leg); colours: top, legs.
- **stool** (stool; bar stool when tall): height tall / short; seat round / square; legs three /
  four (three-legged, tripod); legs thin / thick; colours: seat, legs.
- **bench** (bench; park/garden bench with a backrest): length long (long, lengthy, extended) /
  short (short, compact); backrest with / without (backless); legs thin / thick; colours: seat, legs.
- **lamp** (lamp; floor/standing lamp when tall, desk/table lamp when short): height tall / short;
  shade cone (conical, cone-shaped, tapered) / drum (cylindrical, drum, straight-sided) / dome
  (dome-shaped, domed, rounded); pole thin / thick; colours: shade, stand (base and pole).
- **shelf** (shelf, bookshelf, bookcase, shelving unit): height tall / short; width wide / narrow;
  shelves three / four / five (three-tier ...); back open (open-backed) / panel (with a back panel,
  possibly in another colour); colours: frame, back panel.
- **box** (box, block, cube, cuboid, slab, bar, pillar ...): proportion cube (cubic, cube-shaped) /
  tall (tall, upright, vertical) / flat (flat, flattened, low) / long (long, elongated, stretched); lid
  none / lid in another colour; colours: body, lid.
- **cylinder** (cylinder, rod, column, drum, can, disc, tube, pipe, ring ...): proportion rod (long
  thin, slender, skinny) / column (tall, tall narrow) / squat (short, squat, stubby) / flat (flat,
  coin-shaped, squashed); hollow / solid; orientation standing (upright) / lying (on its side).
- **cone** (cone; frustum when truncated): proportion tall (tall, narrow, slender) / short (short,
  wide, squat, broad); tip pointed (pointed, sharp) / truncated (truncated, blunt); orientation
  upright (pointing up) / upside-down (inverted, pointing down).
- **sphere** (sphere, ball, orb, globe; spheroid; egg, ellipsoid, ovoid): proportion round (round,
  spherical) / flattened (flattened, squashed, oblate) / elongated (elongated, egg-shaped, stretched,
  oval); band none / a band of another colour around the middle (band, stripe, ring).
- **torus** (torus, ring, donut, doughnut, hoop): thickness thin (thin, slender, narrow) / thick
  (thick, fat, chunky, plump); orientation flat (lying flat) / upright (standing on its edge); upright
  ones may stand on a stand of another colour.

Two-coloured items have a second colour fact ("with black legs", "black-legged", "with a white lid");
single-coloured multi-part items may be called "single-coloured" / "with matching legs".
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import trimesh

from engine.data.demo.grammar import (
    Fact,
    adjective,
    colour_fact,
    object_captions,
    part_colour_fact,
    part_fact,
    phrase_fact,
    with_article,
)
from engine.data.demo.palette import COLOUR_NAMES, COLOURS, jittered_rgb, other_colour

SECTIONS = 16  # around cylinders, cones, lamp shades
ROUND_SECTIONS = 24  # around tori and spheres
CAPTIONS_PER_SHAPE = 6
_ATTRIBUTE_STREAM, _GEOMETRY_STREAM, _CAPTION_STREAM = 1, 2, 3

Part = tuple[str, str, trimesh.Trimesh]  # (part name, colour group, mesh in Z-up coordinates)


@dataclass
class ShapeSpec:
    """One planned shape: what it is (the catalogue's ``meta``) before any geometry exists."""

    index: int
    key: str
    family: str
    attrs: dict[str, str]
    colours: dict[str, str]  # colour group -> colour name; the first group is the main colour
    parts: list[str] = field(default_factory=list)

    @property
    def colour(self) -> str:
        return next(iter(self.colours.values()))

    def signature(self) -> tuple[Any, ...]:
        return (self.family, tuple(sorted(self.attrs.items())), tuple(sorted(self.colours.items())))

    def meta(self) -> dict[str, Any]:
        family = FAMILIES[self.family]
        return {
            "family": self.family,
            "colour": self.colour,
            "colours": dict(self.colours),
            "size": self.attrs.get(family.size_attr, ""),
            "proportions": dict(self.attrs),
            "parts": list(self.parts),
        }


@dataclass(frozen=True)
class Family:
    name: str
    size_attr: str  # the attribute reported as the item's "size"
    parts: tuple[str, ...]  # every part name it may have, in drawing order
    sample: Callable[[np.random.Generator], tuple[dict[str, str], dict[str, bool]]]
    build: Callable[[ShapeSpec, np.random.Generator], list[Part]]
    describe: Callable[[ShapeSpec], tuple[tuple[str, ...], list[Fact]]]
    second_colour: str = ""  # the colour group that may differ from the main one
    p_second: float = 0.5  # how often it does


# ---- geometry helpers (Z up, floor at z = 0) ---------------------------------------------------
def _translate(xyz: Sequence[float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = xyz
    return m


def _box(extents: Sequence[float], centre: Sequence[float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents, transform=_translate(centre))


def _cylinder(
    radius: float,
    z0: float,
    z1: float,
    xy: Sequence[float] = (0.0, 0.0),
    sections: int = SECTIONS,
    top_radius: float | None = None,
) -> trimesh.Trimesh:
    """A vertical cylinder from ``z0`` to ``z1`` (a frustum when ``top_radius`` is given)."""
    mesh = trimesh.creation.cylinder(radius=radius, height=z1 - z0, sections=sections)
    if top_radius is not None:
        v = mesh.vertices.copy()
        top = v[:, 2] > 0
        v[top, :2] *= top_radius / radius
        mesh.vertices = v
    mesh.apply_translation((xy[0], xy[1], (z0 + z1) / 2))
    return mesh


def _leg(square: bool, radius: float, z1: float, xy: Sequence[float]) -> trimesh.Trimesh:
    if square:
        return _box((2 * radius, 2 * radius, z1), (xy[0], xy[1], z1 / 2))
    return _cylinder(radius, 0.0, z1, xy, sections=12)


def _corner_legs(
    square: bool, radius: float, height: float, half_x: float, half_y: float, inset: float
) -> list[trimesh.Trimesh]:
    xs = (-half_x + inset, half_x - inset)
    ys = (-half_y + inset, half_y - inset)
    return [_leg(square, radius, height, (x, y)) for x in xs for y in ys]


def _rotate_x(mesh: trimesh.Trimesh, degrees: float) -> trimesh.Trimesh:
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.radians(degrees), (1, 0, 0)))
    return mesh


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _choice(rng: np.random.Generator, options: Sequence[str], p: Sequence[float] | None = None) -> str:
    if p is None:
        return options[int(rng.integers(len(options)))]
    weights = np.asarray(p, dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))]


# ---- shared wordings ---------------------------------------------------------------------------
HEIGHT_WORDS = {"tall": ("tall", "high"), "short": ("short", "low"), "low": ("low", "short")}
WIDTH_WORDS = {"wide": ("wide", "broad", "roomy"), "narrow": ("narrow", "slim", "slender")}
LEG_WORDS = {
    "thin": ("thin", "spindly", "slender", "skinny"),
    "thick": ("thick", "sturdy", "chunky", "stout"),
}
LEG_COMPOUNDS = {"thin": ("thin-legged", "spindly-legged"), "thick": ("thick-legged", "sturdy-legged")}
NUMBER_WORDS = {"three": 3, "four": 4, "five": 5}


def _main_colour(colour: str, part_nouns: Sequence[str] = ()) -> Fact:
    """The main colour, also said of its main part: "red", "in crimson", "with a red seat"."""
    fact = colour_fact("colour", colour)
    if not part_nouns:
        return fact
    words = COLOURS[colour].synonyms
    post = tuple(f"with {with_article(f'{w} {n}')}" for w in words for n in part_nouns)
    pred = tuple(f"has {with_article(f'{w} {n}')}" for w in words for n in part_nouns)
    return replace(fact, post=fact.post + post, pred=fact.pred + pred)


def _uniform(part_word: str, singular: bool = False) -> Fact:
    """A multi-part item in one colour: "single-coloured", "with matching legs", "with a matching stand"."""
    a = "a " if singular else ""
    return phrase_fact(
        "one colour",
        pre=("single-coloured", "one-colour"),
        post=(
            f"with {a}matching {part_word}",
            f"with {a}{part_word} of the same colour",
            "all in one colour",
        ),
        pred=("is all one colour", f"has {a}matching {part_word}", f"has {a}{part_word} in the same colour"),
        rank=5,
    )


def _second_colour(
    spec: ShapeSpec, group: str, part: str, nouns: Sequence[str], uniform_word: str, singular: bool = False
) -> Fact:
    colour = spec.colours[group]
    if colour == spec.colour:
        return _uniform(uniform_word, singular)
    return part_colour_fact(f"{group} colour", part, nouns, colour, singular=singular)


def _legs_fact(thickness: str) -> Fact:
    return part_fact(
        "legs", "legs", ("legs",), LEG_WORDS[thickness], LEG_COMPOUNDS[thickness], verbs=("has", "stands on")
    )


def _count_fact(
    name: str, count: str, noun: str, verbs: Sequence[str] = ("has",), pre: Sequence[str] = ()
) -> Fact:
    return phrase_fact(
        name,
        pre=(f"{count}-tier" if noun == "shelves" else f"{count}-legged", *pre),
        post=(f"with {count} {noun}", f"on {count} {noun}") if noun == "legs" else (f"with {count} {noun}",),
        pred=tuple(f"{v} {count} {noun}" for v in verbs),
    )


# ---- chair -------------------------------------------------------------------------------------
def _chair_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    return {
        "height": _choice(rng, ("tall", "short")),
        "width": _choice(rng, ("wide", "narrow")),
        "legs": _choice(rng, ("thin", "thick")),
        "armrests": _choice(rng, ("with", "without"), (0.4, 0.6)),
        "back": _choice(rng, ("solid", "slatted")),
    }, {}


def _chair_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    seat_h = _u(rng, 0.55, 0.65) if a["height"] == "tall" else _u(rng, 0.32, 0.4)
    back_h = _u(rng, 0.6, 0.75) if a["height"] == "tall" else _u(rng, 0.28, 0.38)
    w = _u(rng, 0.66, 0.8) if a["width"] == "wide" else _u(rng, 0.38, 0.46)
    d = _u(rng, 0.44, 0.54)
    t = _u(rng, 0.05, 0.07)
    leg_r = _u(rng, 0.017, 0.023) if a["legs"] == "thin" else _u(rng, 0.045, 0.058)
    square = bool(rng.random() < 0.5)
    parts: list[Part] = [("seat", "body", _box((w, d, t), (0, 0, seat_h - t / 2)))]
    parts += [
        ("legs", "legs", m) for m in _corner_legs(square, leg_r, seat_h - t, w / 2, d / 2, leg_r + 0.01)
    ]
    back_t = 0.04
    y_back = -d / 2 + back_t / 2
    if a["back"] == "solid":
        parts.append(("back", "body", _box((w, back_t, back_h), (0, y_back, seat_h + back_h / 2))))
    else:
        rail = 0.07
        parts.append(("back", "body", _box((w, back_t, rail), (0, y_back, seat_h + back_h - rail / 2))))
        slats = int(rng.integers(3, 5))
        for x in np.linspace(-w / 2 + 0.025, w / 2 - 0.025, slats):
            parts.append(
                ("back", "body", _box((0.035, back_t * 0.8, back_h), (x, y_back, seat_h + back_h / 2)))
            )
    if a["armrests"] == "with":
        arm_z = seat_h + _u(rng, 0.18, 0.24)
        for sx in (-1, 1):
            x = sx * (w / 2 - 0.03)
            parts.append(("armrests", "body", _box((0.06, d * 0.9, 0.04), (x, 0, arm_z))))
            parts.append(
                ("armrests", "body", _box((0.04, 0.04, arm_z - seat_h), (x, d * 0.35, (arm_z + seat_h) / 2)))
            )
    return parts


def _chair_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns: tuple[str, ...] = ("chair", "chair", "seat", "dining chair")
    if a["armrests"] == "with":
        nouns += ("armchair",)
    height = adjective(
        "height",
        HEIGHT_WORDS[a["height"]] + (("high-backed",) if a["height"] == "tall" else ("low-backed",)),
        rank=2,
    )
    arms = (
        phrase_fact(
            "armrests",
            post=("with armrests", "with arms", "with two armrests"),
            pred=("has armrests", "has arms"),
        )
        if a["armrests"] == "with"
        else phrase_fact(
            "armrests",
            pre=("armless",),
            post=("without armrests", "with no arms", "without arms"),
            pred=("has no armrests", "has no arms"),
        )
    )
    back_words = {"solid": ("solid", "plain", "panelled"), "slatted": ("slatted", "barred", "spindle")}[
        a["back"]
    ]
    back = part_fact(
        "back",
        "back",
        ("back", "backrest"),
        back_words,
        (f"{'slat' if a['back'] == 'slatted' else 'solid'}-backed",),
        singular=True,
    )
    facts = [
        _main_colour(spec.colour, ("seat",)),
        height,
        adjective("width", WIDTH_WORDS[a["width"]], rank=2),
        _legs_fact(a["legs"]),
        _second_colour(spec, "legs", "legs", ("legs",), "legs"),
        arms,
        back,
    ]
    return nouns, facts


# ---- table -------------------------------------------------------------------------------------
def _table_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    top = _choice(rng, ("long", "square", "round"))
    base = "four legs" if top == "long" else _choice(rng, ("four legs", "pedestal"), (0.6, 0.4))
    attrs = {"height": _choice(rng, ("tall", "low")), "top": top, "base": base}
    if base == "four legs":
        attrs["legs"] = _choice(rng, ("thin", "thick"))
    return attrs, {}


def _table_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    h = _u(rng, 0.72, 0.8) if a["height"] == "tall" else _u(rng, 0.3, 0.4)
    t = _u(rng, 0.04, 0.06)
    if a["top"] == "long":
        lx, ly = _u(rng, 1.5, 1.8), _u(rng, 0.72, 0.88)
    else:
        lx = ly = _u(rng, 0.8, 1.0)
    top = (
        _cylinder(lx / 2, h - t, h, sections=ROUND_SECTIONS)
        if a["top"] == "round"
        else _box((lx, ly, t), (0, 0, h - t / 2))
    )
    parts: list[Part] = [("top", "top", top)]
    if a["base"] == "pedestal":
        parts.append(("legs", "legs", _cylinder(_u(rng, 0.05, 0.07), 0.0, h - t)))
        parts.append(("legs", "legs", _cylinder(_u(rng, 0.22, 0.3), 0.0, 0.04)))
    else:
        leg_r = _u(rng, 0.018, 0.024) if a["legs"] == "thin" else _u(rng, 0.05, 0.065)
        half_x, half_y = (lx / 2 * 0.72, ly / 2 * 0.72) if a["top"] == "round" else (lx / 2, ly / 2)
        parts += [
            ("legs", "legs", m)
            for m in _corner_legs(bool(rng.random() < 0.5), leg_r, h - t, half_x, half_y, leg_r + 0.02)
        ]
    return parts


def _table_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns: tuple[str, ...] = ("table", "table")
    nouns += ("dining table", "kitchen table") if a["height"] == "tall" else ("coffee table",)
    top_words = {
        "long": ("long", "rectangular", "oblong"),
        "square": ("square", "square-topped"),
        "round": ("round", "circular", "round-topped"),
    }[a["top"]]
    facts = [
        _main_colour(spec.colour, ("top", "tabletop")),
        adjective("height", HEIGHT_WORDS[a["height"]], rank=2),
        adjective("top", top_words, rank=3, post=(f"with {with_article(top_words[0] + ' top')}",)),
        _second_colour(
            spec,
            "legs",
            "legs",
            ("legs",) if a["base"] == "four legs" else ("base", "stand"),
            "legs" if a["base"] == "four legs" else "base",
            singular=a["base"] == "pedestal",
        ),
    ]
    if a["base"] == "pedestal":
        facts.append(
            phrase_fact(
                "base",
                pre=("pedestal",),
                post=("on a single pedestal", "with a central pedestal", "with one central leg"),
                pred=("stands on a single pedestal", "has one central leg"),
            )
        )
    else:
        facts.append(_legs_fact(a["legs"]))
        facts.append(_count_fact("leg count", "four", "legs", verbs=("has", "stands on")))
    return nouns, facts


# ---- stool -------------------------------------------------------------------------------------
def _stool_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    return {
        "height": _choice(rng, ("tall", "short")),
        "seat": _choice(rng, ("round", "square")),
        "leg count": _choice(rng, ("three", "four")),
        "legs": _choice(rng, ("thin", "thick")),
    }, {}


def _stool_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    h = _u(rng, 0.68, 0.8) if a["height"] == "tall" else _u(rng, 0.34, 0.44)
    r = _u(rng, 0.18, 0.22)
    t = _u(rng, 0.04, 0.06)
    seat = (
        _cylinder(r, h - t, h, sections=ROUND_SECTIONS)
        if a["seat"] == "round"
        else _box((2 * r, 2 * r, t), (0, 0, h - t / 2))
    )
    parts: list[Part] = [("seat", "seat", seat)]
    leg_r = _u(rng, 0.014, 0.019) if a["legs"] == "thin" else _u(rng, 0.034, 0.044)
    n = NUMBER_WORDS[a["leg count"]]
    angles = np.radians(45.0 + np.arange(n) * 360.0 / n)
    ring = r * 0.72
    for ang in angles:
        parts.append(("legs", "legs", _leg(False, leg_r, h - t, (ring * np.cos(ang), ring * np.sin(ang)))))
    if a["height"] == "tall" and rng.random() < 0.6:  # a footrest ring
        ring_mesh = trimesh.creation.torus(ring, leg_r * 0.8, major_sections=ROUND_SECTIONS, minor_sections=6)
        ring_mesh.apply_translation((0, 0, h * 0.33))
        parts.append(("footrest", "legs", ring_mesh))
    return parts


def _stool_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns: tuple[str, ...] = ("stool", "stool") + (
        ("bar stool",) if a["height"] == "tall" else ("footstool",)
    )
    seat_words = {"round": ("round", "circular"), "square": ("square",)}[a["seat"]]
    facts = [
        _main_colour(spec.colour, ("seat",)),
        adjective("height", HEIGHT_WORDS[a["height"]], rank=2),
        part_fact("seat", "seat", ("seat",), seat_words, (f"{seat_words[0]}-seated",), rank=3, singular=True),
        _count_fact(
            "leg count",
            a["leg count"],
            "legs",
            verbs=("has", "stands on"),
            pre=("tripod",) if a["leg count"] == "three" else (),
        ),
        _legs_fact(a["legs"]),
        _second_colour(spec, "legs", "legs", ("legs",), "legs"),
    ]
    return nouns, facts


# ---- bench -------------------------------------------------------------------------------------
def _bench_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    return {
        "length": _choice(rng, ("long", "short")),
        "backrest": _choice(rng, ("with", "without")),
        "legs": _choice(rng, ("thin", "thick")),
    }, {}


def _bench_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    length = _u(rng, 1.5, 1.9) if a["length"] == "long" else _u(rng, 0.85, 1.05)
    d, h, t = _u(rng, 0.34, 0.42), _u(rng, 0.42, 0.48), _u(rng, 0.05, 0.07)
    parts: list[Part] = [("seat", "seat", _box((length, d, t), (0, 0, h - t / 2)))]
    leg_r = _u(rng, 0.017, 0.023) if a["legs"] == "thin" else _u(rng, 0.045, 0.058)
    square = bool(rng.random() < 0.5)
    parts += [
        ("legs", "legs", m) for m in _corner_legs(square, leg_r, h - t, length / 2, d / 2, leg_r + 0.02)
    ]
    if a["length"] == "long":  # a middle pair
        for y in (-d / 2 + leg_r + 0.02, d / 2 - leg_r - 0.02):
            parts.append(("legs", "legs", _leg(square, leg_r, h - t, (0.0, y))))
    if a["backrest"] == "with":
        back_h = _u(rng, 0.32, 0.42)
        parts.append(
            ("backrest", "seat", _box((length, 0.04, back_h), (0, -d / 2 + 0.02, h + back_h / 2 + 0.04)))
        )
        for x in (-length / 2 + 0.05, length / 2 - 0.05):
            parts.append(("backrest", "seat", _box((0.04, 0.04, 0.06), (x, -d / 2 + 0.02, h + 0.03))))
    return parts


def _bench_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns: tuple[str, ...] = ("bench", "bench") + (
        ("park bench", "garden bench") if a["backrest"] == "with" else ("seat",)
    )
    length = {"long": ("long", "lengthy", "extended"), "short": ("short", "compact")}[a["length"]]
    back = (
        phrase_fact(
            "backrest", post=("with a backrest", "with a back"), pred=("has a backrest", "has a back")
        )
        if a["backrest"] == "with"
        else phrase_fact(
            "backrest",
            pre=("backless",),
            post=("without a backrest", "with no back"),
            pred=("has no backrest", "has no back"),
        )
    )
    facts = [
        _main_colour(spec.colour, ("seat",)),
        adjective("length", length, rank=2),
        back,
        _legs_fact(a["legs"]),
        _second_colour(spec, "legs", "legs", ("legs",), "legs"),
    ]
    return nouns, facts


# ---- lamp --------------------------------------------------------------------------------------
def _lamp_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    return {
        "height": _choice(rng, ("tall", "short")),
        "shade": _choice(rng, ("cone", "drum", "dome")),
        "pole": _choice(rng, ("thin", "thick")),
    }, {}


def _lamp_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    pole_h = _u(rng, 1.3, 1.6) if a["height"] == "tall" else _u(rng, 0.32, 0.45)
    scale = 1.6 if a["height"] == "tall" else 1.0  # keep thin poles visible in small views
    pole_r = scale * (_u(rng, 0.012, 0.016) if a["pole"] == "thin" else _u(rng, 0.03, 0.04))
    base_r = _u(rng, 0.14, 0.18)
    parts: list[Part] = [
        ("base", "stand", _cylinder(base_r, 0.0, 0.035, sections=ROUND_SECTIONS)),
        ("pole", "stand", _cylinder(pole_r, 0.035, pole_h, sections=10)),
    ]
    r, sh = _u(rng, 0.17, 0.22), _u(rng, 0.18, 0.24)
    z0 = pole_h - sh * 0.4
    if a["shade"] == "cone":
        shade = _cylinder(r, z0, z0 + sh, sections=ROUND_SECTIONS, top_radius=r * 0.45)
    elif a["shade"] == "drum":
        shade = _cylinder(r * 0.85, z0, z0 + sh, sections=ROUND_SECTIONS)
    else:
        shade = trimesh.creation.uv_sphere(radius=r, count=[10, ROUND_SECTIONS])
        v = shade.vertices.copy()
        v[:, 2] = np.maximum(v[:, 2], 0.0) * (sh / r)
        shade.vertices = v
        shade.apply_translation((0, 0, z0))
    parts.append(("shade", "shade", shade))
    return parts


def _lamp_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns: tuple[str, ...] = ("lamp", "lamp") + (
        ("floor lamp", "standing lamp") if a["height"] == "tall" else ("desk lamp", "table lamp")
    )
    shade_words = {
        "cone": ("conical", "cone-shaped", "tapered"),
        "drum": ("cylindrical", "drum", "straight-sided"),
        "dome": ("dome-shaped", "domed", "rounded"),
    }[a["shade"]]
    pole_words = {"thin": ("thin", "slender", "skinny"), "thick": ("thick", "sturdy", "heavy")}[a["pole"]]
    facts = [
        _main_colour(spec.colour, ("shade", "lampshade")),
        adjective("height", HEIGHT_WORDS[a["height"]], rank=2),
        part_fact("shade", "shade", ("shade", "lampshade"), shade_words, rank=3, singular=True),
        part_fact("pole", "pole", ("pole", "stem"), pole_words, rank=4, singular=True),
        _second_colour(spec, "stand", "stand", ("stand", "base", "pole"), "stand", singular=True),
    ]
    return nouns, facts


# ---- shelf -------------------------------------------------------------------------------------
def _shelf_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    back = _choice(rng, ("open", "panel"))
    return {
        "height": _choice(rng, ("tall", "short")),
        "width": _choice(rng, ("wide", "narrow")),
        "shelves": _choice(rng, ("three", "four", "five")),
        "back": back,
    }, {"back": back == "panel"}


def _shelf_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    h = _u(rng, 1.6, 1.9) if a["height"] == "tall" else _u(rng, 0.75, 0.95)
    w = _u(rng, 1.2, 1.45) if a["width"] == "wide" else _u(rng, 0.5, 0.62)
    d, t = _u(rng, 0.28, 0.34), _u(rng, 0.03, 0.04)
    parts: list[Part] = [
        ("sides", "frame", _box((t, d, h), (x, 0, h / 2))) for x in (-w / 2 + t / 2, w / 2 - t / 2)
    ]
    for z in np.linspace(0.05, h - t / 2, NUMBER_WORDS[a["shelves"]]):
        parts.append(("shelves", "frame", _box((w - 2 * t, d, t), (0, 0, z))))
    if a["back"] == "panel":
        parts.append(("back", "back", _box((w, 0.015, h), (0, -d / 2 - 0.0075, h / 2))))
    return parts


def _shelf_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns = ("shelf", "bookshelf", "bookcase", "shelving unit")
    back = (
        phrase_fact(
            "back",
            pre=("open-backed",),
            post=("without a back panel", "with an open back"),
            pred=("has no back panel", "is open at the back"),
        )
        if a["back"] == "open"
        else phrase_fact(
            "back",
            pre=("closed-back",),
            post=("with a back panel", "with a closed back"),
            pred=("has a back panel",),
        )
    )
    facts = [
        _main_colour(spec.colour, ("frame",)),
        adjective("height", HEIGHT_WORDS[a["height"]], rank=2),
        adjective("width", WIDTH_WORDS[a["width"]], rank=2),
        _count_fact("shelves", a["shelves"], "shelves", pre=(f"{a['shelves']}-tiered",)),
        back,
    ]
    if a["back"] == "panel":
        facts.append(
            _second_colour(spec, "back", "back", ("back panel", "back"), "back panel", singular=True)
        )
    return nouns, facts


# ---- box ---------------------------------------------------------------------------------------
def _box_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    lid = _choice(rng, ("none", "lid"), (0.5, 0.5))
    return {"proportion": _choice(rng, ("cube", "tall", "flat", "long")), "lid": lid}, {"lid": lid == "lid"}


def _box_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    p = spec.attrs["proportion"]
    if p == "cube":
        e = [_u(rng, 0.95, 1.05), _u(rng, 0.95, 1.05), _u(rng, 0.95, 1.05)]
    elif p == "tall":
        s = _u(rng, 0.45, 0.6)
        e = [s, s * _u(rng, 0.9, 1.1), _u(rng, 1.2, 1.5)]
    elif p == "flat":
        e = [_u(rng, 0.9, 1.1), _u(rng, 0.8, 1.0), _u(rng, 0.18, 0.28)]
    else:
        e = [_u(rng, 1.4, 1.7), _u(rng, 0.38, 0.5), _u(rng, 0.38, 0.5)]
    lid_h = min(0.08, e[2] * 0.3) if spec.attrs["lid"] == "lid" else 0.0
    parts: list[Part] = [("body", "body", _box((e[0], e[1], e[2] - lid_h), (0, 0, (e[2] - lid_h) / 2)))]
    if lid_h:
        parts.append(("lid", "lid", _box((e[0] * 1.04, e[1] * 1.04, lid_h), (0, 0, e[2] - lid_h / 2))))
    return parts


def _box_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    p = spec.attrs["proportion"]
    nouns = {
        "cube": ("cube", "cube", "block", "box"),
        "tall": ("box", "block", "pillar", "cuboid"),
        "flat": ("box", "slab", "block", "flat box"),
        "long": ("box", "block", "bar", "beam", "cuboid"),
    }[p]
    words = {
        "cube": ("cubic", "cube-shaped", "square"),
        "tall": ("tall", "upright", "vertical"),
        "flat": ("flat", "flattened", "low"),
        "long": ("long", "elongated", "stretched"),
    }[p]
    facts = [_main_colour(spec.colour), adjective("proportion", words, rank=2)]
    if spec.attrs["lid"] == "lid":
        facts.append(
            part_colour_fact("lid colour", "lid", ("lid", "top", "cap"), spec.colours["lid"], singular=True)
        )
    return nouns, facts


# ---- cylinder ----------------------------------------------------------------------------------
def _cylinder_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    return {
        "proportion": _choice(rng, ("rod", "column", "squat", "flat")),
        "hollow": _choice(rng, ("solid", "hollow")),
        "orientation": _choice(rng, ("standing", "lying")),
    }, {}


def _cylinder_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    ratio = {
        "rod": _u(rng, 3.2, 4.0),
        "column": _u(rng, 1.3, 1.7),
        "squat": _u(rng, 0.5, 0.7),
        "flat": _u(rng, 0.12, 0.2),
    }[a["proportion"]]  # height / diameter
    r = 0.5
    h = 2 * r * ratio
    if a["hollow"] == "hollow":
        mesh = trimesh.creation.annulus(
            r_min=r * _u(rng, 0.6, 0.75), r_max=r, height=h, sections=ROUND_SECTIONS
        )
    else:
        mesh = trimesh.creation.cylinder(radius=r, height=h, sections=ROUND_SECTIONS)
    if a["orientation"] == "lying":
        _rotate_x(mesh, 90.0)
    return [("body", "body", mesh)]


def _cylinder_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    p, hollow = a["proportion"], a["hollow"] == "hollow"
    nouns = {
        ("rod", False): ("rod", "cylinder", "stick", "pole"),
        ("column", False): ("cylinder", "column", "pillar"),
        ("squat", False): ("cylinder", "drum", "can"),
        ("flat", False): ("disc", "cylinder", "disk", "puck"),
        ("rod", True): ("pipe", "tube", "cylinder"),
        ("column", True): ("tube", "pipe", "cylinder"),
        ("squat", True): ("tube", "cylinder", "sleeve"),
        ("flat", True): ("ring", "washer", "disc"),
    }[(p, hollow)]
    words = {
        "rod": ("long thin", "slender", "skinny"),
        "column": ("tall", "tall narrow"),
        "squat": ("short", "squat", "stubby"),
        "flat": ("flat", "coin-shaped", "squashed"),
    }[p]
    hollow_fact = (
        phrase_fact(
            "hollow",
            pre=("hollow",),
            post=("with a hole through it", "open at both ends"),
            pred=("is hollow", "has a hole through the middle"),
        )
        if hollow
        else phrase_fact("hollow", pre=("solid",), post=("without a hole",), pred=("is solid",))
    )
    standing = a["orientation"] == "standing"
    if p == "flat":  # a disc with a vertical axis lies flat
        orientation = (
            phrase_fact(
                "orientation", pre=("horizontal",), post=("lying flat", "laid flat"), pred=("lies flat",)
            )
            if standing
            else phrase_fact(
                "orientation",
                pre=("upright",),
                post=("standing on its edge", "on edge"),
                pred=("stands on its edge",),
            )
        )
    else:
        orientation = (
            phrase_fact(
                "orientation",
                pre=("upright", "standing", "vertical"),
                post=("standing on its end", "standing upright"),
                pred=("stands upright", "is standing on its end"),
            )
            if standing
            else phrase_fact(
                "orientation",
                pre=("lying", "horizontal", "toppled"),
                post=("lying on its side", "lying down"),
                pred=("lies on its side",),
            )
        )
    return nouns, [
        _main_colour(spec.colour),
        adjective("proportion", words, rank=2),
        hollow_fact,
        orientation,
    ]


# ---- cone --------------------------------------------------------------------------------------
def _cone_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    return {
        "proportion": _choice(rng, ("tall", "short")),
        "tip": _choice(rng, ("pointed", "truncated")),
        "orientation": _choice(rng, ("upright", "upside-down"), (0.6, 0.4)),
    }, {}


def _cone_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    r = 0.5
    h = r * (_u(rng, 2.4, 3.0) if a["proportion"] == "tall" else _u(rng, 0.6, 0.85))
    if a["tip"] == "pointed":
        mesh = trimesh.creation.cone(radius=r, height=h, sections=ROUND_SECTIONS)
    else:
        mesh = _cylinder(r, 0.0, h, sections=ROUND_SECTIONS, top_radius=r * _u(rng, 0.3, 0.45))
    if a["orientation"] == "upside-down":
        _rotate_x(mesh, 180.0)
    return [("body", "body", mesh)]


def _cone_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns: tuple[str, ...] = ("cone", "cone") + (("frustum",) if a["tip"] == "truncated" else ())
    words = {"tall": ("tall", "narrow", "slender"), "short": ("short", "wide", "squat", "broad")}[
        a["proportion"]
    ]
    tip = (
        phrase_fact(
            "tip",
            pre=("pointed", "sharp"),
            post=("with a sharp tip", "with a pointed tip"),
            pred=("comes to a point", "has a sharp tip"),
        )
        if a["tip"] == "pointed"
        else phrase_fact(
            "tip",
            pre=("truncated", "blunt"),
            post=("with its tip cut off", "with a blunt tip"),
            pred=("has a blunt tip", "has its tip cut off"),
        )
    )
    orientation = (
        phrase_fact(
            "orientation",
            pre=("upright",),
            post=("pointing up", "standing on its base"),
            pred=("points up", "stands on its base"),
        )
        if a["orientation"] == "upright"
        else phrase_fact(
            "orientation",
            pre=("upside-down", "inverted"),
            post=("pointing down", "turned upside down"),
            pred=("points down", "is upside down"),
        )
    )
    return nouns, [_main_colour(spec.colour), adjective("proportion", words, rank=2), tip, orientation]


# ---- sphere ------------------------------------------------------------------------------------
def _sphere_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    band = _choice(rng, ("none", "band"), (0.5, 0.5))
    return {"proportion": _choice(rng, ("round", "flattened", "elongated")), "band": band}, {
        "band": band == "band"
    }


def _sphere_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    squash = {"round": 1.0, "flattened": _u(rng, 0.45, 0.6), "elongated": _u(rng, 1.5, 1.8)}[a["proportion"]]
    body = trimesh.creation.uv_sphere(radius=0.5, count=[14, ROUND_SECTIONS])
    body.apply_scale((1.0, 1.0, squash))
    parts: list[Part] = [("body", "body", body)]
    if a["band"] == "band":
        hb = 0.5 * squash * _u(rng, 0.22, 0.3)
        parts.append(("band", "band", _cylinder(0.5 * 1.02, -hb / 2, hb / 2, sections=ROUND_SECTIONS)))
    return parts


def _sphere_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns = {
        "round": ("sphere", "ball", "orb", "globe"),
        "flattened": ("sphere", "ball", "spheroid"),
        "elongated": ("egg", "ball", "ellipsoid", "ovoid"),
    }[a["proportion"]]
    words = {
        "round": ("round", "spherical"),
        "flattened": ("flattened", "squashed", "oblate"),
        "elongated": ("elongated", "egg-shaped", "stretched", "oval"),
    }[a["proportion"]]
    facts = [_main_colour(spec.colour), adjective("proportion", words, rank=2)]
    if a["band"] == "band":
        cw = COLOURS[spec.colours["band"]].synonyms
        facts.append(
            phrase_fact(
                "band colour",
                pre=tuple(f"{w}-striped" for w in cw),
                post=tuple(
                    f"with {with_article(f'{w} {n}')} around {m}"
                    for w in cw
                    for n in ("band", "stripe", "ring")
                    for m in ("its middle", "the middle", "it")
                )
                + tuple(f"striped with {w}" for w in cw),
                pred=tuple(
                    f"has {with_article(f'{w} {n}')} around the middle"
                    for w in cw
                    for n in ("band", "stripe")
                ),
            )
        )
    return nouns, facts


# ---- torus -------------------------------------------------------------------------------------
def _torus_sample(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, bool]]:
    orientation = _choice(rng, ("flat", "upright"))
    stand = "stand" if orientation == "upright" and rng.random() < 0.5 else "none"
    return {"thickness": _choice(rng, ("thin", "thick")), "orientation": orientation, "stand": stand}, {
        "stand": stand == "stand"
    }


def _torus_build(spec: ShapeSpec, rng: np.random.Generator) -> list[Part]:
    a = spec.attrs
    major = 0.5
    minor = major * (_u(rng, 0.12, 0.18) if a["thickness"] == "thin" else _u(rng, 0.38, 0.48))
    mesh = trimesh.creation.torus(major, minor, major_sections=ROUND_SECTIONS, minor_sections=12)
    parts: list[Part] = []
    if a["orientation"] == "upright":
        _rotate_x(mesh, 90.0)
        if a["stand"] == "stand":
            lift = 0.08
            mesh.apply_translation((0, 0, major + minor + lift))
            parts.append(("stand", "stand", _box((0.7, 0.4, 0.08), (0, 0, 0.04))))
            parts.append(("stand", "stand", _cylinder(0.06, 0.08, lift + minor * 0.6, sections=10)))
    parts.insert(0, ("ring", "body", mesh))
    return parts


def _torus_describe(spec: ShapeSpec) -> tuple[tuple[str, ...], list[Fact]]:
    a = spec.attrs
    nouns = ("torus", "ring", "donut", "doughnut", "hoop")
    words = {"thin": ("thin", "slender", "narrow"), "thick": ("thick", "fat", "chunky", "plump")}[
        a["thickness"]
    ]
    orientation = (
        phrase_fact(
            "orientation", pre=("flat", "horizontal"), post=("lying flat", "laid flat"), pred=("lies flat",)
        )
        if a["orientation"] == "flat"
        else phrase_fact(
            "orientation",
            pre=("upright", "vertical", "standing"),
            post=("standing upright", "standing on its edge"),
            pred=("stands upright", "stands on its edge"),
        )
    )
    facts = [_main_colour(spec.colour), adjective("thickness", words, rank=2), orientation]
    if a["stand"] == "stand":
        cw = COLOURS[spec.colours["stand"]].synonyms
        facts.append(
            phrase_fact(
                "stand colour",
                post=tuple(f"on {with_article(f'{w} stand')}" for w in cw)
                + tuple(f"mounted on {with_article(f'{w} base')}" for w in cw),
                pred=tuple(f"is mounted on {with_article(f'{w} stand')}" for w in cw)
                + tuple(f"sits on {with_article(f'{w} base')}" for w in cw),
            )
        )
    return nouns, facts


# ---- registry ----------------------------------------------------------------------------------
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "chair",
            "height",
            ("seat", "legs", "back", "armrests"),
            _chair_sample,
            _chair_build,
            _chair_describe,
            "legs",
            0.55,
        ),
        Family(
            "table", "height", ("top", "legs"), _table_sample, _table_build, _table_describe, "legs", 0.55
        ),
        Family(
            "stool",
            "height",
            ("seat", "legs", "footrest"),
            _stool_sample,
            _stool_build,
            _stool_describe,
            "legs",
            0.55,
        ),
        Family(
            "bench",
            "length",
            ("seat", "legs", "backrest"),
            _bench_sample,
            _bench_build,
            _bench_describe,
            "legs",
            0.5,
        ),
        Family(
            "lamp",
            "height",
            ("base", "pole", "shade"),
            _lamp_sample,
            _lamp_build,
            _lamp_describe,
            "stand",
            0.7,
        ),
        Family(
            "shelf",
            "height",
            ("sides", "shelves", "back"),
            _shelf_sample,
            _shelf_build,
            _shelf_describe,
            "back",
            0.5,
        ),
        Family("box", "proportion", ("body", "lid"), _box_sample, _box_build, _box_describe, "lid", 1.0),
        Family("cylinder", "proportion", ("body",), _cylinder_sample, _cylinder_build, _cylinder_describe),
        Family("cone", "proportion", ("body",), _cone_sample, _cone_build, _cone_describe),
        Family(
            "sphere",
            "proportion",
            ("body", "band"),
            _sphere_sample,
            _sphere_build,
            _sphere_describe,
            "band",
            1.0,
        ),
        Family(
            "torus",
            "thickness",
            ("ring", "stand"),
            _torus_sample,
            _torus_build,
            _torus_describe,
            "stand",
            1.0,
        ),
    )
}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
_MAIN_GROUP = {
    "chair": "body",
    "table": "top",
    "stool": "seat",
    "bench": "seat",
    "lamp": "shade",
    "shelf": "frame",
    "box": "body",
    "cylinder": "body",
    "cone": "body",
    "sphere": "body",
    "torus": "body",
}


# ---- planning ----------------------------------------------------------------------------------
def _sample_colours(
    family: Family, main: str, rng: np.random.Generator, needs: dict[str, bool]
) -> dict[str, str]:
    colours = {_MAIN_GROUP[family.name]: main}
    group = family.second_colour
    if group and needs.get(group, True):  # ``needs``: whether optional parts exist
        colours[group] = other_colour(rng, main) if rng.random() < family.p_second else main
    return colours


def plan_shapes(count: int, seed: int = 0) -> list[ShapeSpec]:
    """``count`` shapes: families in turn, each family cycling through every colour in a seeded order,
    other attributes drawn at random (avoiding exact attribute repeats while possible)."""
    specs: list[ShapeSpec] = []
    seen: set[tuple[Any, ...]] = set()
    colour_orders: dict[tuple[int, int], list[str]] = {}
    for index in range(count):
        fi = index % len(FAMILY_NAMES)
        family = FAMILIES[FAMILY_NAMES[fi]]
        k = index // len(FAMILY_NAMES)  # how many of this family came before
        cycle = k // len(COLOUR_NAMES)
        if (fi, cycle) not in colour_orders:
            perm = np.random.default_rng([seed, _ATTRIBUTE_STREAM, 1_000_000 + fi, cycle]).permutation(
                len(COLOUR_NAMES)
            )
            colour_orders[(fi, cycle)] = [COLOUR_NAMES[int(i)] for i in perm]
        main = colour_orders[(fi, cycle)][k % len(COLOUR_NAMES)]
        rng = np.random.default_rng([seed, _ATTRIBUTE_STREAM, index])
        spec = None
        for _ in range(30):
            attrs, needs = family.sample(rng)
            colours = _sample_colours(family, main, rng, needs)
            spec = ShapeSpec(index, f"{family.name}-{index:05d}", family.name, attrs, colours)
            if spec.signature() not in seen:
                break
        assert spec is not None
        seen.add(spec.signature())
        specs.append(spec)
    return specs


# ---- meshes and captions -----------------------------------------------------------------------
_Z_UP_TO_Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0))


def build_parts(spec: ShapeSpec, seed: int = 0) -> list[tuple[str, trimesh.Trimesh]]:
    """The coloured parts of a shape, Y-up, one mesh per part name (in the family's part order)."""
    rng = np.random.default_rng([seed, _GEOMETRY_STREAM, spec.index])
    family = FAMILIES[spec.family]
    raw = family.build(spec, rng)
    rgb = {group: jittered_rgb(colour, rng) for group, colour in spec.colours.items()}
    yaw = trimesh.transformations.rotation_matrix(float(rng.uniform(0, 2 * np.pi)), (0, 0, 1))
    transform = _Z_UP_TO_Y_UP @ yaw
    merged: list[tuple[str, trimesh.Trimesh]] = []
    for name in family.parts:
        meshes = [m for part, _, m in raw if part == name]
        if not meshes:
            continue
        groups = {g for part, g, _ in raw if part == name}
        if len(groups) != 1:
            raise ValueError(f"{spec.family} part {name!r} spans colour groups {sorted(groups)}")
        mesh = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
        mesh.apply_transform(transform)
        mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=(*rgb[groups.pop()], 255))
        merged.append((name, mesh))
    unknown = {part for part, _, _ in raw} - set(family.parts)
    if unknown:
        raise ValueError(f"{spec.family} built undeclared parts {sorted(unknown)}")
    return merged


def mesh_glb(spec: ShapeSpec, seed: int = 0) -> tuple[bytes, list[str]]:
    """The shape as GLB bytes (one node per part) and the names of its parts."""
    parts = build_parts(spec, seed)
    scene = trimesh.Scene()
    for name, mesh in parts:
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    buffer = io.BytesIO()
    scene.export(buffer, file_type="glb")
    return buffer.getvalue(), [name for name, _ in parts]


def shape_captions(spec: ShapeSpec, seed: int = 0, count: int = CAPTIONS_PER_SHAPE) -> list[str]:
    """``count`` distinct captions of the shape (deterministic from the seed and its index)."""
    nouns, facts = FAMILIES[spec.family].describe(spec)
    rng = np.random.default_rng([seed, _CAPTION_STREAM, spec.index])
    return object_captions(rng, nouns, facts, count)
