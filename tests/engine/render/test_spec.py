"""ViewSpec: defaults, validation and the cache key."""

from __future__ import annotations

import pytest

from engine.render import ViewSpec


def test_defaults_match_the_issue() -> None:
    spec = ViewSpec()
    assert (spec.views, spec.size, spec.background) == (8, 224, (255, 255, 255))
    assert 15.0 <= spec.elevation_deg <= 35.0


def test_key_is_short_stable_and_sensitive_to_every_field() -> None:
    base = ViewSpec()
    assert base.key() == ViewSpec().key()
    assert len(base.key()) == 12 and all(c in "0123456789abcdef" for c in base.key())
    variants = [
        ViewSpec(views=12),
        ViewSpec(elevation_deg=30.0),
        ViewSpec(size=128),
        ViewSpec(background=(0, 0, 0)),
        ViewSpec(fov_deg=50.0),
        ViewSpec(up_axis="z"),
    ]
    keys = {base.key(), *(v.key() for v in variants)}
    assert len(keys) == len(variants) + 1


def test_the_default_y_up_keys_are_those_of_existing_render_caches() -> None:
    # Keys made before --up took six axes: views rendered y-up stay valid in existing caches.
    assert ViewSpec().key() == "6435ab014666"
    assert ViewSpec(views=4, size=64).key() == "e48e1c9466f8"
    assert {ViewSpec(up_axis=a).key() for a in ("y", "z", "x", "-y", "-z", "-x")}.__len__() == 6


def test_equivalent_values_give_the_same_key() -> None:
    assert ViewSpec(elevation_deg=25, background=[255, 255, 255]).key() == ViewSpec().key()  # type: ignore[arg-type]


def test_as_dict_round_trips() -> None:
    spec = ViewSpec(views=4, size=96, background=(10, 20, 30), up_axis="z")
    data = spec.as_dict()
    assert data["key"] == spec.key()
    assert ViewSpec.from_dict(data) == spec


@pytest.mark.parametrize(
    "kwargs",
    [
        {"views": 0},
        {"size": 2},
        {"elevation_deg": 90.0},
        {"fov_deg": 1.0},
        {"background": (0, 0, 300)},
        {"background": (0, 0)},
        {"up_axis": "up"},
        {"up_axis": "+z"},
    ],
)
def test_invalid_specs_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ViewSpec(**kwargs)


def test_spec_is_frozen_and_hashable() -> None:
    spec = ViewSpec()
    with pytest.raises(AttributeError):
        spec.views = 3  # type: ignore[misc]
    assert {spec: 1}[ViewSpec()] == 1
