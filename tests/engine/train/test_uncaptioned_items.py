"""Training on a partly captioned dataset: only the captioned items train, and the run says how many it left out
(in the CLI's output and the started event)."""

from __future__ import annotations

from engine.catalog import ItemRecord
from engine.data.multifold import load_items, split_items
from engine.run.events import Started, parse_line
from engine.workspace import Workspace
from tests.engine.train.conftest import run_trainer


def _add_uncaptioned(ws: Workspace, n: int) -> list[str]:
    """``n`` train items of toy-shapes with views (the toy's own files) and no caption; returns their keys."""
    catalog = ws.catalog()
    ds = catalog.require_dataset("toy-shapes")
    views = sorted(str(p) for p in (ws.root / "views").glob("*.png"))
    keys = [f"bare-{i}" for i in range(n)]
    catalog.add_records(ds.id, [ItemRecord(key, split="train", views=views[2 * i : 2 * i + 2]) for i, key in
                                enumerate(keys)])
    return keys


def test_split_items_counts_the_items_without_captions(toy_workspace: Workspace) -> None:
    catalog = toy_workspace.catalog()
    before = split_items(catalog, "toy-shapes", "train")
    keys = _add_uncaptioned(toy_workspace, 3)
    found = split_items(catalog, "toy-shapes", "train")
    assert (len(found.items), found.uncaptioned, found.total) == (len(before.items), 3, before.total + 3)
    assert not {item.key for item in found.items} & set(keys)
    assert [i.key for i in load_items(catalog, "toy-shapes", "train")[1]] == [i.key for i in found.items]
    assert split_items(catalog, "toy-shapes", "test").uncaptioned == 0


def test_partly_captioned_dataset_trains_on_the_captioned_and_says_how_many_it_left_out(
        toy_workspace: Workspace) -> None:
    _add_uncaptioned(toy_workspace, 3)
    captioned = len(split_items(toy_workspace.catalog(), "toy-shapes", "train").items)
    done = run_trainer(toy_workspace, "--loss", "clip", "--max-steps", "2", "--val-frequency", "100",
                       "--save-frequency", "100", "--name", "partly")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "note: left out 3 training items without captions" in done.stdout
    lines = (toy_workspace.runs / "partly" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    [started] = [e for e in map(parse_line, lines) if isinstance(e, Started)]
    assert (started.items, started.uncaptioned_items) == (captioned, 3)
    assert started.note.startswith("left out 3 training items without captions")
