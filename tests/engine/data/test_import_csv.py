"""csv importer (open_clip tables): columns by name, separator, rows grouped per image, line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.data.importers import ImportFailed, run_import
from engine.workspace import Workspace


def _ws(tmp_path: Path) -> tuple[Workspace, object]:
    ws = Workspace.open(tmp_path / "ws")
    return ws, ws.catalog()


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (0, 0, 200)).save(path)


def test_tsv_round_trip_relative_to_the_tables_folder(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "a.png")
    _png(tmp_path / "img" / "b.png")
    table = tmp_path / "train.tsv"
    table.write_text(
        "filepath\ttitle\textra\n"
        "img/a.png\tA blue square.\tx\n"
        "img/b.png\tAnother square.\ty\n"
        "img/a.png\tSquare, blue.\tz\n"
        "\n"
        "img/missing.png\tNot there.\tw\n"
        "img/b.png\t\tv\n",
        encoding="utf-8",
    )
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "csv", table, "tsv")
    problems = [(p.where, p.reason.split(" ")[0]) for p in report.problems]
    assert problems == [("line 7", "empty"), ("line 6", "image")]
    assert report.records_read == 5
    summary = catalog.summary("tsv")
    assert (summary.items, summary.by_modality) == (2, {"text": 3, "image": 2})
    again = run_import(catalog, ws, "csv", table, "tsv")
    assert (again.items_added, again.observations_added) == (0, 0)


def test_custom_columns_separator_quotes_and_images_root(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    root = tmp_path / "images"
    _png(root / "x.png")
    _png(tmp_path / "secret.png")
    table = tmp_path / "data.csv"
    table.write_text(
        "caption;image\n"
        "\"A caption; with the separator\nand a newline\";x.png\n"
        "Escapes;../secret.png\n"
        f"Absolute outside;{tmp_path / 'secret.png'}\n"
        f"Absolute inside;{root / 'x.png'}\n"
        "Too few fields\n",
        encoding="utf-8",
    )
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "csv", table, "c", images_root=root, img_key="image",
                        caption_key="caption", separator=";")
    assert [p.where for p in report.problems] == ["line 4", "line 5", "line 7"]
    assert "outside" in report.problems[0].reason and "outside" in report.problems[1].reason
    ds = catalog.require_dataset("c")
    item = catalog.item_by_key(ds.id, "x.png")
    assert item is not None
    assert sorted(o.text for o in item.observations if o.modality == "text") == [
        "A caption; with the separator and a newline", "Absolute inside"]  # the line break became a space


def test_undecodable_row_is_reported_with_its_line(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    table = tmp_path / "t.csv"
    table.write_bytes(b"\xef\xbb\xbffilepath,title\na.png,Fine\na.png,Bad \xc3\x28 bytes\na.png,Also fine\n")
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "csv", table, "t")
    assert [p.where for p in report.problems] == ["line 3"]
    assert catalog.summary("t").by_modality == {"text": 2, "image": 1}


def test_missing_column_fails_with_a_separator_hint(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("filepath\ttitle\na.png\thello\n", encoding="utf-8")
    ws, catalog = _ws(tmp_path)
    with pytest.raises(ImportFailed, match=r"t\.csv: .*no column 'filepath'.*separator"):
        run_import(catalog, ws, "csv", table, "t")
    report = run_import(catalog, ws, "csv", table, "t", separator="\\t")
    assert report.skipped == 1 and "not found" in report.problems[0].reason


def test_multi_line_captions_are_kept_with_their_breaks_as_spaces(tmp_path: Path) -> None:
    """Quoted captions spanning lines (legal CSV, as spreadsheets write them): one caption each, the breaks become
    spaces, the rows after them are read as usual; an over-long one is still refused by the caption rule."""
    import csv

    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    table = tmp_path / "t.csv"
    with table.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerows([
            ["filepath", "title"],
            ["a.png", "A blue square\r\non a white\r\n\r\nbackground."],
            ["b.png", "Second image."],
            ["a.png", "Spread\nover\nfour\nlines"],
            ["b.png", ("x" * 249 + "\n") * 10],  # 10 lines, 2,499 characters once joined: over the limit
            ["b.png", "Last row."],
        ])
    ws, catalog = _ws(tmp_path)
    report = run_import(catalog, ws, "csv", table, "t")
    assert [(p.where, p.reason.split(" (")[0]) for p in report.problems] == [("line 11", "caption of 2,499 characters")]
    assert (report.items_added, report.captioned_items_added, report.observations_added) == (2, 2, 6)
    ds = catalog.require_dataset("t")
    texts = {key: sorted(o.text for o in catalog.item_by_key(ds.id, key).observations if o.modality == "text")
             for key in ("a.png", "b.png")}
    assert texts == {"a.png": ["A blue square on a white background.", "Spread over four lines"],
                     "b.png": ["Last row.", "Second image."]}
