"""Colour and size vocabulary shared by the demo shapes and scenes.

Colours (name: RGB; caption synonyms):

==========  ===============  ======================================
name        RGB              synonyms used in captions
==========  ===============  ======================================
red         (200, 32, 36)    red, crimson, scarlet
orange      (240, 128, 24)   orange, tangerine, amber
yellow      (238, 206, 40)   yellow, lemon-yellow, golden
green       (44, 150, 64)    green, emerald, grass-green
blue        (40, 84, 204)    blue, cobalt, azure
purple      (124, 52, 164)   purple, violet, plum
pink        (240, 132, 184)  pink, rose, rosy
brown       (104, 62, 30)    brown, chocolate, chestnut
black       (30, 30, 32)     black, jet-black, ebony
white       (242, 242, 238)  white, ivory, snow-white
gray        (128, 128, 132)  gray, grey, silver
teal        (24, 148, 150)   teal, turquoise, cyan
==========  ===============  ======================================

Every generated object gets its colour's RGB plus a small per-object jitter (lighter/darker by up to
``COLOUR_JITTER``, a slight tint per channel), so two "red" objects are rarely exactly the same red.

Sizes (2D scenes only: rendered shapes are normalised into the unit sphere, so their absolute size is
invisible and shape captions speak of proportions instead):

- small: small, little, tiny
- large: large, big, huge
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Colour:
    name: str
    rgb: tuple[int, int, int]
    synonyms: tuple[str, ...]  # the first is the plain name


COLOURS: dict[str, Colour] = {
    c.name: c
    for c in (
        Colour("red", (200, 32, 36), ("red", "crimson", "scarlet")),
        Colour("orange", (240, 128, 24), ("orange", "tangerine", "amber")),
        Colour("yellow", (238, 206, 40), ("yellow", "lemon-yellow", "golden")),
        Colour("green", (44, 150, 64), ("green", "emerald", "grass-green")),
        Colour("blue", (40, 84, 204), ("blue", "cobalt", "azure")),
        Colour("purple", (124, 52, 164), ("purple", "violet", "plum")),
        Colour("pink", (240, 132, 184), ("pink", "rose", "rosy")),
        Colour("brown", (104, 62, 30), ("brown", "chocolate", "chestnut")),
        Colour("black", (30, 30, 32), ("black", "jet-black", "ebony")),
        Colour("white", (242, 242, 238), ("white", "ivory", "snow-white")),
        Colour("gray", (128, 128, 132), ("gray", "grey", "silver")),
        Colour("teal", (24, 148, 150), ("teal", "turquoise", "cyan")),
    )
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
COLOUR_JITTER = 15

SIZES: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big", "huge"),
}


def jittered_rgb(name: str, rng: np.random.Generator) -> tuple[int, int, int]:
    """The colour's RGB, lighter or darker by up to ``COLOUR_JITTER`` and moved by up to a third of that
    per channel (so greys stay grey); deterministic given ``rng``."""
    base = np.array(COLOURS[name].rgb, dtype=np.int64)
    shade = int(rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1))
    tint = rng.integers(-(COLOUR_JITTER // 3), COLOUR_JITTER // 3 + 1, size=3)
    shifted = np.clip(base + shade + tint, 0, 255)
    return (int(shifted[0]), int(shifted[1]), int(shifted[2]))


def other_colour(rng: np.random.Generator, *avoid: str) -> str:
    """A colour name different from every name in ``avoid``."""
    choices = [c for c in COLOUR_NAMES if c not in avoid]
    return choices[int(rng.integers(len(choices)))]
