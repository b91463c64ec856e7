"""The importers' shared pieces: path containment, deterministic splits, file checks, progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.data.importers.checks import image_problem, mesh_problem, natural_key
from engine.data.importers.paths import PathOutsideRoot, resolve_inside
from engine.data.splits import normalize_split, split_for_key


def test_resolve_inside_accepts_inner_paths_and_rejects_escapes(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    assert resolve_inside(root, "a/b.png") == root / "a" / "b.png"
    assert resolve_inside(root, "a/../b.png") == root / "b.png"
    assert resolve_inside(root, str(root / "c.png")) == root / "c.png"
    for bad in ("../x.png", "a/../../x.png", "/etc/passwd", str(root) + "-sibling/x.png", "a\x00b"):
        with pytest.raises(PathOutsideRoot):
            resolve_inside(root, bad)


def test_split_for_key_is_stable_and_roughly_80_10_10() -> None:
    assert split_for_key("1000092795.jpg") == split_for_key("1000092795.jpg")
    splits = [split_for_key(f"image-{i}.jpg") for i in range(5000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.77 < share["train"] < 0.83 and 0.08 < share["val"] < 0.12 and 0.08 < share["test"] < 0.12


def test_normalize_split() -> None:
    assert [normalize_split(s) for s in ("train", "restval", "val", "test", "TEST", "other", None)] == [
        "train", "train", "val", "test", "test", None, None]


def test_checks(tmp_path: Path) -> None:
    good = tmp_path / "g.png"
    Image.new("RGB", (4, 4)).save(good)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"nope")
    assert image_problem(good) is None
    assert "unreadable image" in (image_problem(bad) or "")
    assert "not found" in (image_problem(tmp_path / "none.png") or "")
    assert "not a mesh format" in (mesh_problem(good) or "")
    assert sorted(["v10.png", "v2.png", "v1.png"], key=natural_key) == ["v1.png", "v2.png", "v10.png"]
