"""The caption grammar of the demo data: facts, their wordings, and the sentence templates.

An object is described by **facts** (:class:`Fact`): one attribute each (its colour, that it is tall,
that its legs are thin, that it has no armrests ...), with every way the grammar may say it:

- ``pre``: adjectives before the noun ("tall", "thin-legged", "crimson"),
- ``post``: phrases after the noun ("with spindly legs", "painted red", "without armrests"),
- ``pred``: verb phrases ("is tall", "has black legs", "stands on thin legs").

Facts about the same part (``part``) merge when both go after the noun: "with thin black legs".
The families' and scene objects' own words (nouns, attribute words) live in ``shapes.py`` and
``scenes.py``; colour and size words in ``palette.py``.

**Shape captions** (:func:`object_captions`): each caption mentions a random subset of the facts (the
main colour most of the time), every fact is mentioned by at least one of an item's captions, and
the captions of one item are distinct. Templates (``det`` = a/an, the, or nothing):

- attributive: "a tall red chair with thin legs", "tall, crimson chair with spindly legs and armrests"
- fragment: "red seat, tall, with spindly legs"
- list: "chair: red, tall, with thin legs"
- relative: "a red chair that has thin legs and has no armrests"
- sentences: "a chair. it is tall and red and has thin legs." / "this chair is tall and red"
- existential: "there is a tall red chair with thin legs"
- with an occasional lead-in: "a 3d model of ...", "a render of ...", "an object: ..."

**Scene captions** (:func:`scene_captions`) name objects with noun phrases ("a small yellow square",
"a square in yellow", "the circle") and their layout:

- relations: left of / to the left of / on the left of; right of ...; above / over / higher than;
  below / under / beneath / underneath; "between", "next to", "side by side", "one above the other",
  "from left to right", "from top to bottom", "with ... to its right", "at the top ... at the bottom",
- places (single objects): "in the top left corner", "at the upper left", "in the middle", "on the
  right", "near the bottom" ...,
- counts: "two shapes: ...", "three objects in a row: ...", "a single ...", "only one shape: ...".

The first caption of a scene mentions every object; the others may mention only some of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.data.demo.palette import COLOURS, SIZES

MAX_TRIES = 200  # attempts at drawing distinct captions before giving up on exactly ``count``


class CaptionError(RuntimeError):
    """The grammar could not produce enough distinct captions for an object (a vocabulary bug)."""


# ---- facts -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fact:
    """One attribute of an object and the ways to say it (see the module docstring)."""

    name: str
    pre: tuple[str, ...] = ()
    post: tuple[str, ...] = ()
    pred: tuple[str, ...] = ()
    rank: int = 3  # adjective order before the noun: proportion 2-3 < part 4 < colour 6
    part: str = ""  # part facts with the same part merge: "with thin black legs"
    part_nouns: tuple[str, ...] = ()
    part_adjs: tuple[str, ...] = ()
    singular: bool = False  # "with a slatted back" (a/an) vs "with thin legs"


def adjective(
    name: str, words: Sequence[str], rank: int = 3, post: Sequence[str] = (), pred: Sequence[str] = ()
) -> Fact:
    """An adjective of the whole object: "tall" -> pre "tall", pred "is tall"."""
    return Fact(
        name,
        pre=tuple(words),
        post=tuple(post),
        pred=tuple(f"is {w}" for w in words) + tuple(pred),
        rank=rank,
    )


def colour_fact(name: str, colour: str, rank: int = 6) -> Fact:
    """The object's colour: "red", "painted crimson", "is scarlet"."""
    words = COLOURS[colour].synonyms
    post = tuple(f"{form} {w}" for w in words[:2] for form in ("in", "painted", "coloured"))
    pred = tuple(f"is {w}" for w in words) + tuple(f"is painted {w}" for w in words)
    return Fact(name, pre=words, post=post, pred=pred, rank=rank)


def size_fact(size: str) -> Fact:
    return adjective("size", SIZES[size], rank=1)


def part_fact(
    name: str,
    part: str,
    nouns: Sequence[str],
    adjs: Sequence[str],
    compounds: Sequence[str] = (),
    rank: int = 4,
    verbs: Sequence[str] = ("has",),
    singular: bool = False,
) -> Fact:
    """An attribute of a part: "with thin legs", "has spindly legs", "thin-legged"."""
    post = tuple(f"with {_np(f'{a} {n}', singular)}" for a in adjs for n in nouns)
    pred = tuple(f"{v} {_np(f'{a} {n}', singular)}" for v in verbs for a in adjs for n in nouns)
    return Fact(
        name,
        pre=tuple(compounds),
        post=post,
        pred=pred,
        rank=rank,
        part=part,
        part_nouns=tuple(nouns),
        part_adjs=tuple(adjs),
        singular=singular,
    )


def part_colour_fact(
    name: str, part: str, nouns: Sequence[str], colour: str, rank: int = 5, singular: bool = False
) -> Fact:
    """A part's colour: "with black legs", "has ebony legs", "black-legged" (compounds for legs only)."""
    words = COLOURS[colour].synonyms
    compounds = tuple(f"{w}-legged" for w in words) if part == "legs" else ()
    return part_fact(name, part, nouns, words, compounds, rank=rank, singular=singular)


def phrase_fact(
    name: str, post: Sequence[str], pred: Sequence[str], pre: Sequence[str] = (), rank: int = 4
) -> Fact:
    """A fact said with free phrases: "without armrests" / "has no armrests" / "armless"."""
    return Fact(name, pre=tuple(pre), post=tuple(post), pred=tuple(pred), rank=rank)


# ---- small helpers ---------------------------------------------------------------------------
def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" and not word.startswith(("one", "uni", "eu")) else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def _np(phrase: str, singular: bool) -> str:
    return with_article(phrase) if singular else phrase


def join_and(parts: Sequence[str], rng: np.random.Generator | None = None) -> str:
    """'a', 'a and b', 'a, b and c' (and, with ``rng``, sometimes 'a, b, and c')."""
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    comma = "," if rng is not None and len(parts) > 2 and rng.random() < 0.3 else ""
    return f"{', '.join(parts[:-1])}{comma} and {parts[-1]}"


def _determiner(rng: np.random.Generator, head: str, p_none: float = 0.2) -> str:
    u = rng.random()
    if u < p_none:
        return head
    if u < p_none + 0.15:
        return f"the {head}"
    return with_article(head)


def _fix_spaces(text: str) -> str:
    return " ".join(text.split()).replace(" ,", ",").replace(" .", ".")


# ---- shape captions --------------------------------------------------------------------------
@dataclass
class _Wording:
    pre: list[Fact]
    post: list[Fact]
    pred: list[Fact]


def _place_facts(rng: np.random.Generator, facts: Sequence[Fact], p_pre: float) -> _Wording:
    """Decide for every fact whether it goes before the noun or after it."""
    w = _Wording([], [], [])
    for f in facts:
        if f.pre and (not f.post or rng.random() < p_pre):
            w.pre.append(f)
        elif f.post:
            w.post.append(f)
        else:
            w.pred.append(f)
    return w


def _pre_words(rng: np.random.Generator, facts: Sequence[Fact], natural: bool = True) -> list[str]:
    ordered = (
        sorted(facts, key=lambda f: f.rank) if natural else [facts[i] for i in rng.permutation(len(facts))]
    )
    return [pick(rng, f.pre) for f in ordered]


def _post_phrases(rng: np.random.Generator, facts: Sequence[Fact]) -> list[str]:
    """After-noun phrases, merging facts about the same part ("with thin black legs")."""
    phrases: list[str] = []
    by_part: dict[str, list[Fact]] = {}
    for f in facts:
        if f.part and f.part_adjs:
            by_part.setdefault(f.part, []).append(f)
        else:
            phrases.append(pick(rng, f.post))
    for group in by_part.values():
        if len(group) == 1 or rng.random() < 0.25:
            phrases.extend(pick(rng, f.post) for f in group)
        else:
            adjs = " ".join(pick(rng, f.part_adjs) for f in sorted(group, key=lambda f: f.rank))
            phrases.append(f"with {_np(f'{adjs} {pick(rng, group[0].part_nouns)}', group[0].singular)}")
    order = rng.permutation(len(phrases))
    return [phrases[i] for i in order]


def _pred_clause(rng: np.random.Generator, facts: Sequence[Fact]) -> str:
    """'is tall and red and has thin legs': the 'is' predicates share one verb."""
    preds = [pick(rng, f.pred) for f in facts]
    order = rng.permutation(len(preds))
    preds = [preds[i] for i in order]
    is_words = [p[3:] for p in preds if p.startswith("is ")]
    others = [p for p in preds if not p.startswith("is ")]
    clauses = ([f"is {join_and(is_words)}"] if is_words else []) + others
    if len(is_words) > 1 and rng.random() < 0.3:
        clauses = [f"is {w}" for w in is_words] + others
    return join_and(clauses, rng)


def _t_attributive(rng: np.random.Generator, noun: str, facts: Sequence[Fact], p_none: float = 0.2) -> str:
    w = _place_facts(rng, facts, p_pre=0.65)
    w.post += w.pred  # (no pred-only facts come from the constructors, but keep them)
    pre = _pre_words(rng, w.pre, natural=rng.random() < 0.8)
    sep = ", " if len(pre) > 1 and rng.random() < 0.3 else " "
    head = f"{sep.join(pre)} {noun}" if pre else noun
    post = _post_phrases(rng, [f for f in w.post if f.post])
    return f"{_determiner(rng, head, p_none)} {join_and(post, rng)}"


def _t_fragment(rng: np.random.Generator, noun: str, facts: Sequence[Fact]) -> str:
    order = [facts[i] for i in rng.permutation(len(facts))]
    lead = [f for f in order if f.pre][:1] if rng.random() < 0.7 else []
    rest = [f for f in order if f not in lead]
    head = f"{pick(rng, lead[0].pre)} {noun}" if lead else noun
    bits = []
    for f in rest:
        if f.pre and (not f.post or rng.random() < 0.5):
            bits.append(pick(rng, f.pre))
        else:
            bits.append(pick(rng, f.post or f.pred))
    return ", ".join([head, *bits])


def _t_list(rng: np.random.Generator, noun: str, facts: Sequence[Fact]) -> str:
    bits = []
    for i in rng.permutation(len(facts)):
        f = facts[i]
        bits.append(pick(rng, f.pre) if f.pre and (not f.post or rng.random() < 0.6) else pick(rng, f.post))
    sep = pick(rng, (": ", " - ", ", "))
    return f"{noun}{sep}{', '.join(bits)}"


def _t_relative(rng: np.random.Generator, noun: str, facts: Sequence[Fact]) -> str:
    order = [facts[i] for i in rng.permutation(len(facts))]
    n_pre = int(rng.integers(0, len(order))) if len(order) > 1 else 0
    pre = [f for f in order[:n_pre] if f.pre]
    rest = [f for f in order if f not in pre]
    head = f"{' '.join(_pre_words(rng, pre))} {noun}" if pre else noun
    rel = pick(rng, ("that", "which"))
    return f"{_determiner(rng, head, p_none=0.1)} {rel} {_pred_clause(rng, rest)}"


def _t_sentences(rng: np.random.Generator, noun: str, facts: Sequence[Fact]) -> str:
    u = rng.random()
    if u < 0.4:
        return f"this {noun} {_pred_clause(rng, facts)}"
    if u < 0.7:
        return f"{with_article(noun)}. it {_pred_clause(rng, facts)}."
    return f"it is {with_article(noun)} and it {_pred_clause(rng, facts)}"


def _t_existential(rng: np.random.Generator, noun: str, facts: Sequence[Fact]) -> str:
    lead = pick(rng, ("there is", "here is", "this is", "we see"))
    return f"{lead} {_t_attributive(rng, noun, facts, p_none=0.0)}"


_SHAPE_TEMPLATES: tuple[tuple[Callable[[np.random.Generator, str, Sequence[Fact]], str], float], ...] = (
    (_t_attributive, 0.34),
    (_t_fragment, 0.14),
    (_t_list, 0.1),
    (_t_relative, 0.16),
    (_t_sentences, 0.14),
    (_t_existential, 0.12),
)
_LEAD_INS = ("a 3d model of", "a render of", "a picture of", "an object:", "a model of")


def _shape_caption(rng: np.random.Generator, nouns: Sequence[str], facts: Sequence[Fact]) -> str:
    weights = np.array([w for _, w in _SHAPE_TEMPLATES])
    template = _SHAPE_TEMPLATES[int(rng.choice(len(weights), p=weights / weights.sum()))][0]
    noun = pick(rng, nouns)
    if template is _t_attributive and rng.random() < 0.12:
        text = f"{pick(rng, _LEAD_INS)} {_t_attributive(rng, noun, facts, p_none=0.0)}"
    else:
        text = template(rng, noun, facts)
    return _fix_spaces(text)


def _fact_subsets(rng: np.random.Generator, facts: Sequence[Fact], count: int, main: str) -> list[list[int]]:
    """For each caption, which facts it mentions; every fact is mentioned at least once."""
    n = len(facts)
    sizes = np.array([1, 2, 3, 4, 5])
    weights = np.array([0.18, 0.34, 0.28, 0.14, 0.06])
    subsets: list[list[int]] = []
    main_idx = [i for i, f in enumerate(facts) if f.name == main]
    for _ in range(count):
        m = int(min(n, rng.choice(sizes, p=weights)))
        chosen = [int(i) for i in rng.choice(n, size=m, replace=False)] if n else []
        if main_idx and main_idx[0] not in chosen and rng.random() < 0.75:
            chosen[int(rng.integers(len(chosen)))] = main_idx[0]
        subsets.append(chosen)
    covered = {i for s in subsets for i in s}
    for i in range(n):
        if i not in covered:
            subsets[int(rng.integers(count))].append(i)
    return [sorted(set(s)) for s in subsets]


def object_captions(
    rng: np.random.Generator, nouns: Sequence[str], facts: Sequence[Fact], count: int, main: str = "colour"
) -> list[str]:
    """``count`` distinct captions of one object; together they mention every fact."""
    captions: list[str] = []
    subsets = _fact_subsets(rng, facts, count, main)
    tries = 0
    while len(captions) < count:
        tries += 1
        if tries > MAX_TRIES:
            raise CaptionError(
                f"only {len(captions)} distinct captions for {nouns[0]!r} after {MAX_TRIES} tries"
            )
        k = len(captions)
        chosen = subsets[k] if tries <= 3 * count else _fact_subsets(rng, facts, 1, main)[0]
        text = _shape_caption(rng, nouns, [facts[i] for i in chosen])
        if text not in captions:
            captions.append(text)
    return captions


# ---- scene captions --------------------------------------------------------------------------
@dataclass(frozen=True)
class SceneThing:
    """What the grammar needs of one object in a scene."""

    nouns: tuple[str, ...]
    colour: str
    size: str  # a key of palette.SIZES


RELATIONS: dict[str, tuple[str, ...]] = {
    "left": ("left of", "to the left of", "on the left of"),
    "right": ("right of", "to the right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath", "underneath"),
}
_AROUND: dict[str, tuple[str, ...]] = {  # "with B ___" where B is at that side of A
    "left": ("to its left", "on its left", "left of it"),
    "right": ("to its right", "on its right", "right of it"),
    "above": ("above it", "over it"),
    "below": ("below it", "under it", "beneath it"),
}
_ENDS: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "at the left"),
    "right": ("on the right", "at the right"),
    "above": ("at the top", "on top"),
    "below": ("at the bottom", "below"),
}
_AXES: dict[str, dict[str, object]] = {
    "row": {
        "first": "left",
        "last": "right",
        "order": ("from left to right", "left to right"),
        "together": ("side by side", "next to each other", "in a row"),
        "line": ("row", "line"),
    },
    "column": {
        "first": "above",
        "last": "below",
        "order": ("from top to bottom", "top to bottom"),
        "together": ("one above the other", "stacked vertically", "in a column"),
        "line": ("column", "vertical line"),
    },
}
_NUMBERS = {1: "one", 2: "two", 3: "three"}
_THINGS = ("shapes", "objects", "figures")


def noun_phrase(
    rng: np.random.Generator, thing: SceneThing, det: bool = True, p_colour: float = 0.88, p_size: float = 0.5
) -> str:
    """'a small yellow square', 'a square in yellow', 'the big circle', 'a lemon-yellow block'."""
    noun = pick(rng, thing.nouns)
    colours = COLOURS[thing.colour].synonyms
    colour = pick(rng, colours) if rng.random() < p_colour else ""
    size = pick(rng, SIZES[thing.size]) if rng.random() < p_size else ""
    if colour and rng.random() < 0.15:
        phrase = f"{size} {noun} in {pick(rng, colours[:2])}".strip()
    else:
        phrase = " ".join(w for w in (size, colour, noun) if w)
    if not det:
        return phrase
    return f"the {phrase}" if rng.random() < 0.1 else with_article(phrase)


def _axis_captions(rng: np.random.Generator, things: Sequence[SceneThing], axis: str, full: bool) -> str:
    """Objects in one line (``row``: left to right, ``column``: top to bottom)."""
    spec = _AXES[axis]
    first, last = str(spec["first"]), str(spec["last"])

    def np_(i: int) -> str:
        return noun_phrase(rng, things[i])

    n = len(things)
    if n == 3 and not full and rng.random() < 0.5:  # only two of the three
        i, j = sorted(int(x) for x in rng.choice(3, size=2, replace=False))
        return _pair(rng, np_(i), np_(j), first, last, of_three=True)
    if n == 2:
        return _pair(rng, np_(0), np_(1), first, last, allow_partial=not full)
    u = int(rng.integers(6))
    a, b, c = np_(0), np_(1), np_(2)
    if u == 0:
        return f"{a}, {b} and {c} {pick(rng, spec['order'])}"  # type: ignore[arg-type]
    if u == 1:
        return f"{b} between {a} and {c}" if rng.random() < 0.5 else f"{b} between {c} and {a}"
    if u == 2:
        return f"{a} {pick(rng, RELATIONS[first])} {b}, which is {pick(rng, RELATIONS[first])} {c}"
    if u == 3:
        return f"{a} {pick(rng, _ENDS[first])}, {b} in the middle and {c} {pick(rng, _ENDS[last])}"
    if u == 4:
        things_word = pick(rng, _THINGS)
        return f"three {things_word} in a {pick(rng, spec['line'])}: {a}, {b} and {c}"  # type: ignore[arg-type]
    return f"{c} {pick(rng, RELATIONS[last])} {b}, and {a} {pick(rng, _ENDS[first])}"


def _pair(
    rng: np.random.Generator,
    a: str,
    b: str,
    first: str,
    last: str,
    allow_partial: bool = False,
    of_three: bool = False,
) -> str:
    """Two objects, ``a`` at the ``first`` side of ``b`` (``of_three``: two of a scene's three)."""
    u = int(rng.integers(8 if allow_partial else 7))
    if of_three and u in (5, 6):  # no "two shapes: ..." and no "on the left ..., on the right ..."
        u = int(rng.integers(5))
    if u == 0:
        return f"{a} {pick(rng, RELATIONS[first])} {b}"
    if u == 1:
        return f"{b} {pick(rng, RELATIONS[last])} {a}"
    if u == 2:
        return f"{a} is {pick(rng, RELATIONS[first])} {b}"
    if u == 3:
        return f"{a} with {b} {pick(rng, _AROUND[last])}"
    if u == 4:
        return f"{b} with {a} {pick(rng, _AROUND[first])}"
    if u == 5:
        return f"{pick(rng, _ENDS[first])} {a}, {pick(rng, _ENDS[last])} {b}"
    if u == 6:
        together = _AXES["row" if first == "left" else "column"]["together"]
        return f"two {pick(rng, _THINGS)} {pick(rng, together)}: {a} and {b}"  # type: ignore[arg-type]
    return f"{a} and {b}"


def _triangle_caption(rng: np.random.Generator, things: Sequence[SceneThing], full: bool) -> str:
    """``things`` = [top, bottom left, bottom right]."""
    t, left, right = (noun_phrase(rng, x) for x in things)
    u = int(rng.integers(7 if full else 9))
    if u == 0:
        return f"{t} {pick(rng, RELATIONS['above'])} {left} and {right}"
    if u == 1:
        return f"{left} and {right} {pick(rng, RELATIONS['below'])} {t}"
    if u == 2:
        return f"{left} {pick(rng, RELATIONS['left'])} {right}, with {t} above them"
    if u == 3:
        return f"{t} at the top, {left} at the bottom left and {right} at the bottom right"
    if u == 4:
        order = [t, left, right]
        perm = rng.permutation(3)
        return f"three {pick(rng, _THINGS)}: {join_and([order[i] for i in perm])}"
    if u == 5:
        return f"{right} {pick(rng, RELATIONS['right'])} {left}, and {t} above both"
    if u == 6:
        return f"{t} on top, and below it {left} and {right}"
    if u == 7:
        return f"{t} {pick(rng, RELATIONS['above'])} {pick(rng, (left, right))}"
    return f"{left} {pick(rng, RELATIONS['left'])} {right}"


def _place(rng: np.random.Generator, cell: tuple[int, int]) -> str:
    """Where a single object is: ``cell`` = (column, row) in a 3 x 3 grid."""
    col, row = cell
    h = {0: "left", 1: "", 2: "right"}[col]
    v = {0: "top", 1: "", 2: "bottom"}[row]
    v_alt = {"top": "upper", "bottom": "lower", "": ""}[v]
    if h and v:
        return pick(rng, (f"in the {v} {h} corner", f"at the {v_alt} {h}", f"in the {v} {h}"))
    if h:
        return pick(rng, (f"on the {h}", f"on the {h} side", f"at the {h}"))
    if v:
        return pick(rng, (f"at the {v}", f"near the {v}", f"in the {v_alt} part"))
    return pick(rng, ("in the middle", "in the centre", "at the center"))


def _single_caption(rng: np.random.Generator, thing: SceneThing, cell: tuple[int, int]) -> str:
    u = int(rng.integers(6))
    a = noun_phrase(rng, thing)
    if u == 0:
        return f"{a} {_place(rng, cell)}"
    if u == 1:
        return f"there is {a} {_place(rng, cell)}"
    if u == 2:
        return f"a single {noun_phrase(rng, thing, det=False)}"
    if u == 3:
        return f"only one {pick(rng, ('shape', 'object'))}: {a}"
    if u == 4:
        return f"{_place(rng, cell)}, {a}"
    return f"{a} on a plain background" if rng.random() < 0.5 else a


def scene_captions(
    rng: np.random.Generator,
    things: Sequence[SceneThing],
    layout: str,
    count: int,
    cell: tuple[int, int] = (1, 1),
) -> list[str]:
    """``count`` distinct captions of a scene.

    ``layout``: ``single`` (one object in ``cell``), ``row`` (left to right), ``column`` (top to
    bottom), or ``triangle`` ([top, bottom left, bottom right]).
    """
    captions: list[str] = []
    tries = 0
    while len(captions) < count:
        tries += 1
        if tries > MAX_TRIES:
            raise CaptionError(f"only {len(captions)} distinct captions for a {layout} scene")
        full = not captions
        if layout == "single":
            text = _single_caption(rng, things[0], cell)
        elif layout in _AXES:
            text = _axis_captions(rng, things, layout, full)
            if len(things) == 2 and rng.random() < 0.1:
                text = f"{_NUMBERS[len(things)]} {pick(rng, _THINGS)}: {text}"
        elif layout == "triangle":
            text = _triangle_caption(rng, things, full)
        else:
            raise ValueError(f"unknown scene layout {layout!r}")
        text = _fix_spaces(text)
        if text not in captions:
            captions.append(text)
    return captions
