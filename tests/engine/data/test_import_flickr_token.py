"""flickr-token importer: the acceptance test (bad lines never abort and are reported exactly),
plus round trip, idempotence, log, and every kind of bad input it must survive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from engine.data.importers import ImportFailed, run_import
from engine.workspace import Workspace


def _png(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def _ws(tmp_path: Path) -> tuple[Workspace, object]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def _flickr(tmp_path: Path, lines: list[str], images: tuple[str, ...] = ("a.jpg", "b.jpg", "c.jpg")) -> Path:
    root = tmp_path / "images"
    for i, name in enumerate(images):
        _png(root / name, (i * 60, 100, 100))
    token = tmp_path / "results_20130124.token"
    token.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return token


def test_malformed_line_and_missing_image_are_the_only_problems(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    token = _flickr(tmp_path, [
        "a.jpg#0\tA dog runs on the grass.",
        "a.jpg#1\tA brown dog running.",
        "b.jpg#0\tTwo people on a bench.",
        "this line has no caption separator",
        "missing.jpg#0\tA cat on a mat.",
        "missing.jpg#1\tA cat sleeping.",
        "b.jpg#1\tPeople sitting in a park.",
        "c.jpg#0\tA red car.",
    ])
    ws, catalog = _ws(tmp_path)
    calls: list[tuple[int, int | None]] = []
    report = run_import(catalog, ws, "flickr-token", token, "flickr", images_root=tmp_path / "images",
                        on_progress=lambda done, total: calls.append((done, total)))

    assert [(Path(p.file).name, p.where) for p in report.problems] == [
        ("results_20130124.token", "line 4"),
        ("results_20130124.token", "line 5"),
    ]
    assert "malformed" in report.problems[0].reason
    assert "missing.jpg" in report.problems[1].reason and "not found" in report.problems[1].reason
    assert report.records_read == 8
    assert (report.items_added, report.observations_added) == (3, 5 + 3)  # 5 captions + 3 images

    summary = catalog.summary("flickr")
    assert summary.kind == "image-text" and summary.source_format == "flickr-token"
    assert summary.items == 3
    assert summary.by_modality == {"text": 5, "image": 3}
    assert sum(summary.by_split.values()) == 3
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)

    ds = catalog.require_dataset("flickr")
    a = catalog.item_by_key(ds.id, "a.jpg")
    assert a is not None
    assert sorted(o.text for o in a.observations if o.modality == "text") == [
        "A brown dog running.", "A dog runs on the grass."]
    assert [o.path for o in a.observations if o.modality == "image"] == [str(tmp_path / "images/a.jpg")]


def test_reimport_adds_nothing_and_log_is_written(tmp_path: Path) -> None:
    token = _flickr(tmp_path, ["a.jpg#0\tA dog.", "a.jpg#1\tA dog again.", "b.jpg#0\tA bench.", "bad"])
    ws, catalog = _ws(tmp_path)
    first = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    second = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    assert (first.items_added, first.observations_added) == (2, 5)
    assert (second.items_added, second.observations_added, second.items_updated) == (0, 0, 0)
    assert catalog.summary("f").observations == 5

    log = Path(second.log_path)
    assert log.parent == ws.logs and log.is_file()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert lines[0]["event"] == "import" and lines[0]["dataset"] == "f"
    assert [x["where"] for x in lines[1:]] == ["line 4"]


def test_splits_are_deterministic_per_item(tmp_path: Path) -> None:
    names = tuple(f"{i}.png" for i in range(30))
    token = _flickr(tmp_path, [f"{n}#{k}\tcaption {k} of {n}" for n in names for k in range(2)], images=names)
    ws, catalog = _ws(tmp_path)
    run_import(catalog, ws, "flickr-token", token, "one", images_root=tmp_path / "images")
    run_import(catalog, ws, "flickr-token", token, "two", images_root=tmp_path / "images")
    one, two = catalog.require_dataset("one"), catalog.require_dataset("two")
    splits_one = {i.key: i.split for i in catalog.items(one.id)}
    splits_two = {i.key: i.split for i in catalog.items(two.id)}
    assert splits_one == splits_two
    assert set(splits_one.values()) <= {"train", "val", "test"}
    assert "train" in splits_one.values()


def test_undecodable_line_is_reported_and_the_rest_imported(tmp_path: Path) -> None:
    token = _flickr(tmp_path, [])
    token.write_bytes(b"a.jpg#0\tA dog.\n" b"a.jpg#1\tA caf\xe9 \xff dog.\n" b"b.jpg#0\tA bench.\r\n")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    assert [(p.where, "UTF-8" in p.reason) for p in report.problems] == [("line 2", True)]
    assert catalog.summary("f").by_modality == {"text": 2, "image": 2}


def test_corrupt_image_is_reported(tmp_path: Path) -> None:
    token = _flickr(tmp_path, ["a.jpg#0\tA dog.", "b.jpg#0\tA bench.", "b.jpg#1\tA bench again."])
    (tmp_path / "images/b.jpg").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    assert [p.where for p in report.problems] == ["line 2"]
    reason = report.problems[0].reason
    assert "unreadable image" in reason and "2 caption(s) skipped" in reason
    assert catalog.summary("f").items == 1


def test_truncated_png_is_reported(tmp_path: Path) -> None:
    token = _flickr(tmp_path, ["a.jpg#0\tA dog.", "b.jpg#0\tA bench."])
    data = (tmp_path / "images/b.jpg").read_bytes()
    (tmp_path / "images/b.jpg").write_bytes(data[: len(data) - 20])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    assert [p.where for p in report.problems] == ["line 2"]


def test_paths_escaping_the_root_are_rejected(tmp_path: Path) -> None:
    token = _flickr(tmp_path, [
        "a.jpg#0\tA dog.",
        "../outside.png#0\tEscaping upwards.",
        f"{tmp_path / 'outside.png'}#0\tAbsolute path outside.",
        "sub/../b.jpg#0\tStays inside.",
    ])
    _png(tmp_path / "outside.png")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    assert [p.where for p in report.problems] == ["line 2", "line 3"]
    assert all("outside" in p.reason for p in report.problems)
    ds = catalog.require_dataset("f")
    assert sorted(i.key for i in catalog.items(ds.id)) == ["a.jpg", "b.jpg"]


def test_empty_caption_reported(tmp_path: Path) -> None:
    token = _flickr(tmp_path, ["a.jpg#0\t   ", "a.jpg#1\tA dog."])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    assert [(p.where, p.reason.startswith("empty caption")) for p in report.problems] == [("line 1", True)]
    assert catalog.summary("f").by_modality == {"text": 1, "image": 1}


def test_nothing_usable_is_an_empty_report_not_a_failure(tmp_path: Path) -> None:
    token = _flickr(tmp_path, ["nonsense", "more nonsense"])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "images")
    assert report.items_added == 0 and report.skipped == 2
    assert catalog.summary("f").items == 0


def test_missing_source_and_missing_root_fail_with_the_file_named(tmp_path: Path) -> None:
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed, match="nope.token: no such file"):
        run_import(catalog, ws, "flickr-token", tmp_path / "nope.token", "f")
    token = _flickr(tmp_path, ["a.jpg#0\tA dog."])
    with pytest.raises(ImportFailed, match="images root does not exist"):
        run_import(catalog, ws, "flickr-token", token, "f", images_root=tmp_path / "no-images")
    with pytest.raises(ImportFailed, match="unknown import format"):
        run_import(catalog, ws, "flickr", token, "f")
    assert catalog.dataset("f") is None  # a failed import leaves no dataset behind


def test_default_images_root_is_the_token_files_folder(tmp_path: Path) -> None:
    _png(tmp_path / "a.jpg")
    token = tmp_path / "captions.token"
    token.write_text("a.jpg#0\tA dog.\n", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "flickr-token", token, "f")
    assert report.items_added == 1 and not report.problems
