"""Search end to end on a trained toy run: real training, real hnswlib files, real SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.catalog import ItemRecord
from engine.index.errors import StaleIndexError
from engine.indexing import index_run
from engine.run import checkpoint as ckpt
from engine.search import Searcher, SearchError, default_run
from engine.workspace import Workspace
from tests.conftest import copy_workspace
from tests.engine.train.conftest import COLOURS, ROOT, child_env

RUN = "toy-gcl"


@pytest.fixture()
def trained(trained_toy: Path) -> Path:
    return trained_toy


@pytest.fixture()
def ws_copy(trained_toy: Path, tmp_path: Path) -> Workspace:
    """A private copy for tests that change the workspace."""
    return copy_workspace(trained_toy, tmp_path / "ws")


def test_text_query_finds_items_of_that_colour(trained: Path) -> None:
    ws = Workspace.open(trained)
    result = Searcher(ws, RUN, device="cpu").search(text="a red square", target="shapes", k=5)
    assert len(result.hits) == 5 and len({h.item_id for h in result.hits}) == 5
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(result.hits, result.hits[1:], strict=False))
    reds = [h for h in result.hits if h.category == "red"]
    assert len(reds) >= 4
    for hit in result.hits:  # hits carry their own catalogue metadata
        assert hit.captions and all(hit.category in c for c in hit.captions)
        assert len(hit.thumbnails) == 2 and all(Path(p).is_file() for p in hit.thumbnails)


def test_same_query_same_order_and_default_run(trained: Path) -> None:
    ws = Workspace.open(trained)
    searcher = Searcher(ws, RUN, device="cpu")
    a = searcher.search(text="blue block", target="shapes", k=8)
    b = searcher.search(text="blue block", target="shapes", k=8)
    assert [(h.item_id, h.score) for h in a.hits] == [(h.item_id, h.score) for h in b.hits]
    assert default_run(ws.catalog(), "shapes") == RUN


def test_captions_target_folds_observations_into_items(trained: Path) -> None:
    ws = Workspace.open(trained)
    result = Searcher(ws, RUN, device="cpu").search(text="green", target="captions", k=6)
    assert len({h.item_id for h in result.hits}) == 6
    assert all(h.matched_text in h.captions for h in result.hits)
    assert sum("green" in h.matched_text for h in result.hits) >= 4


def test_item_and_fused_queries(trained: Path) -> None:
    ws = Workspace.open(trained)
    searcher = Searcher(ws, RUN, device="cpu")
    by_item = searcher.search(item_key="toy-002", target="shapes", k=3)  # a big blue square
    assert by_item.hits[0].category == "blue"
    image = Path(by_item.hits[0].thumbnails[0])
    fused = searcher.search(text="a blue square", image=image, target="shapes", k=4)
    assert fused.query == {"text": "a blue square", "image": str(image), "item": None}
    assert all(h.category == "blue" for h in fused.hits)


def test_split_and_category_filters(trained: Path) -> None:
    ws = Workspace.open(trained)
    searcher = Searcher(ws, RUN, device="cpu")
    only_test = searcher.search(text="red", target="shapes", k=5, split="test")
    assert only_test.hits and all(h.split == "test" for h in only_test.hits)
    only_white = searcher.search(text="red", target="captions", k=3, category="white")
    assert len(only_white.hits) == 3 and all(h.category == "white" for h in only_white.hits)
    with pytest.raises(SearchError, match="give a query"):
        searcher.search(target="shapes")


def test_stale_checkpoint_is_refused_with_rebuild_hint(ws_copy: Workspace) -> None:
    best = ws_copy.runs / RUN / "checkpoints" / "best.pt"
    state = ckpt.load(best)
    state["state_dict"]["logit_scale"] = state["state_dict"]["logit_scale"] + 0.5
    ckpt.save_atomic(state, best)
    with pytest.raises(StaleIndexError, match=f"trainer index --run {RUN}"):
        Searcher(ws_copy, RUN, device="cpu").search(text="red", target="shapes", k=3)
    report = index_run(ws_copy, ws_copy.catalog(), RUN, device="cpu")
    assert {d["action"] for d in report.modalities.values()} == {"built"}
    assert Searcher(ws_copy, RUN, device="cpu").search(text="red", target="shapes", k=3).hits


def test_truncated_index_file_is_refused(ws_copy: Workspace) -> None:
    path = next((ws_copy.indexes / RUN).glob("*-shape.hnsw"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StaleIndexError, match="trainer index"):
        Searcher(ws_copy, RUN, device="cpu").search(text="red", target="shapes", k=3)


def test_new_items_are_added_without_rebuild(ws_copy: Workspace, tmp_path: Path) -> None:
    cat = ws_copy.catalog()
    ds = cat.require_dataset("toy-shapes")
    views = []
    for v in range(2):
        p = tmp_path / f"new_{v}.png"
        im = Image.new("RGB", (32, 32), (128, 128, 128))
        im.paste(COLOURS["yellow"], (4, 4, 28, 28))
        im.save(p)
        views.append(str(p))
    cat.add_records(ds.id, [ItemRecord("toy-new", split="test", category="yellow", views=views,
                                       captions=["a big yellow square", "yellow block, big"])])
    report = index_run(ws_copy, cat, RUN, device="cpu")
    assert {m: (d["action"], d["added"]) for m, d in report.modalities.items()} == {
        "text": ("added", 2), "image": ("added", 2), "shape": ("added", 1)}
    hits = Searcher(ws_copy, RUN, device="cpu").search(item_key="toy-new", target="shapes", k=48).hits
    assert "toy-new" in [h.key for h in hits[:5]] and len(hits) == 48


def test_cli_search_json_has_k_items(trained: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "trainer", "search", "--workspace", str(trained), "--text", "red",
                           "--target", "shapes", "--k", "4", "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=child_env())
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert data["run"] == RUN and len(data["hits"]) == 4
    assert {"key", "score", "captions", "thumbnails"} <= set(data["hits"][0])
