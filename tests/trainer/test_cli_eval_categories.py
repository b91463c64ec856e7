"""``trainer eval`` on labelled data, as a user runs it (``trainer.cli.main``, a real workspace): ``--by-category``
on shapes and on images without captions, for a trained and a zero-shot run; its event and catalogue record; a
split without captions gets a note instead of a crash or a 0 %; bad input is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.catalog.browse import item_detail
from engine.metric_keys import (
    CATEGORY_COUNT,
    CATEGORY_ITEMS,
    CATEGORY_MEAN_TOP1,
    CATEGORY_TOP1,
    CATEGORY_TOP5,
    CATEGORY_UNLABELLED,
)
from engine.run.events import CategoryEval, CategoryMiss, Eval, parse_event, read_events
from engine.workspace import Workspace
from tests.cli_runner import run_trainer
from tests.conftest import FURNITURE_RUN, ZERO_SHOT_RUN, copy_workspace
from tests.engine.evaluate.conftest import FURNITURE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the session's furniture run: about a minute of training on 2 cores, once


def trainer(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return run_trainer("eval", *args, "--device", "cpu", ws=ws.root)


def _json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _events(ws: Workspace, run: str) -> list:
    return [parse_event(r) for r in read_events(ws.runs / run / "events.jsonl")]


def _check_wrong(ws: Workspace, out: dict, dataset: str) -> list[dict]:
    """The items ``--json`` lists as labelled wrongly: all of them (under the cap), the worst ranked first, each
    the catalogue's item with its key and category, predicted another category, its own ranked below first."""
    misses = out["wrong"]
    assert out["num_wrong"] == len(misses) == round((1 - out["metrics"][CATEGORY_TOP1]) * out["metrics"][
        CATEGORY_ITEMS])
    assert [m["rank"] for m in misses] == sorted((m["rank"] for m in misses), reverse=True)
    catalog = ws.catalog()
    for m in misses:
        assert set(m) == {"item", "key", "true", "predicted", "rank"}
        detail = item_detail(catalog, m["item"])
        assert (detail.dataset, detail.key, detail.category) == (dataset, m["key"], m["true"])
        assert m["predicted"] in FURNITURE and m["predicted"] != m["true"]
        assert 2 <= m["rank"] <= len(FURNITURE)
    return misses


@pytest.fixture(scope="module")
def ws(trained_furniture: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return copy_workspace(trained_furniture, tmp_path_factory.mktemp("eval-categories") / "ws")


def test_by_category_reports_accuracies_and_records_them_for_the_app(ws: Workspace) -> None:
    out = _json(trainer(ws, "--run", FURNITURE_RUN, "--by-category", "--json"))
    m = out["metrics"]
    assert (out["run"], out["dataset"], out["split"], out["prompts"]) == (FURNITURE_RUN, "furniture", "test", "")
    assert (m[CATEGORY_ITEMS], m[CATEGORY_COUNT], m[CATEGORY_UNLABELLED]) == (18, 3, 0)
    assert m[CATEGORY_TOP1] >= 0.8 and m[CATEGORY_MEAN_TOP1] >= 0.8 and m[CATEGORY_TOP5] == 1.0
    assert sorted(out["categories"]) == sorted(FURNITURE) and set(out["per_category"]) == set(FURNITURE)
    assert all(row["count"] == 6 for row in out["per_category"].values())
    wrong = sum(c["count"] for c in out["confusions"])
    assert wrong == round((1 - m[CATEGORY_TOP1]) * 18)
    recorded = [e for e in _events(ws, FURNITURE_RUN) if isinstance(e, CategoryEval)]
    assert len(recorded) == 1
    event = recorded[-1]
    assert (event.split, event.dataset, event.metrics) == ("test", "furniture", m)
    assert event.per_category == out["per_category"]
    # the items labelled wrongly, for the app's list: the same in the event as in --json
    misses = _check_wrong(ws, out, "furniture")
    assert event.wrong == [CategoryMiss(**miss) for miss in misses] and event.num_wrong == wrong
    assert ws.catalog().require_run(FURNITURE_RUN).metrics["categories_test"] == m

    text = trainer(ws, "--run", FURNITURE_RUN, "--by-category")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"{FURNITURE_RUN} (done) on furniture/test by category")
    assert lines[1].startswith(f"top-1 {100 * m[CATEGORY_TOP1]:.1f}%")
    assert all(any(line.startswith(name) for line in lines) for name in FURNITURE)
    assert lines[-1] == "prompts: a 3D model of a {}.; a render of a {}.; a photo of a {}."


def test_images_without_captions_by_category_from_a_zero_shot_run_with_a_prompts_file(
    ws: Workspace, tmp_path: Path,
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a drawing of a {}.\n# not a template\na {}\n", encoding="utf-8")
    out = _json(trainer(ws, "--run", ZERO_SHOT_RUN, "--dataset", "photos", "--by-category", "--prompts",
                        str(prompts), "--json"))
    assert out["templates"] == ["a drawing of a {}.", "a {}"] and out["prompts"] == str(prompts)
    m = out["metrics"]
    assert (m[CATEGORY_ITEMS], m[CATEGORY_COUNT], m[CATEGORY_UNLABELLED]) == (12, 3, 2)  # two without a category
    assert 0 <= m[CATEGORY_TOP1] <= 1 and {r["count"] for r in out["per_category"].values()} == {4}
    misses = _check_wrong(ws, out, "photos")  # random weights: many of the 12 are wrong
    assert misses and all(not miss["key"].startswith("loose/") for miss in misses)  # those have no category
    event = [e for e in _events(ws, ZERO_SHOT_RUN) if isinstance(e, CategoryEval)][-1]
    assert [(w.key, w.true, w.predicted, w.rank) for w in event.wrong] == [
        (miss["key"], miss["true"], miss["predicted"], miss["rank"]) for miss in misses]
    assert ws.catalog().require_run(ZERO_SHOT_RUN).metrics["categories_photos_test"] == m


def test_a_split_without_captions_skips_the_caption_directions_with_a_note(ws: Workspace) -> None:
    before = _events(ws, FURNITURE_RUN)
    out = _json(trainer(ws, "--run", FURNITURE_RUN, "--dataset", "photos", "--json"))
    assert out["metrics"] == {}
    assert len(out["notes"]) == 1 and "photos/test has no captions" in out["notes"][0]
    assert "--by-category" in out["notes"][0]
    assert _events(ws, FURNITURE_RUN) == before  # nothing evaluated, nothing recorded
    assert "eval_photos_test" not in ws.catalog().require_run(FURNITURE_RUN).metrics
    text = trainer(ws, "--run", FURNITURE_RUN, "--dataset", "photos")
    assert text.returncode == 0 and "Traceback" not in text.stderr
    assert text.stdout.splitlines()[-1].startswith("note: photos/test has no captions")
    assert "0.0" not in text.stdout


def test_a_partly_captioned_split_is_evaluated_on_its_captioned_items(ws: Workspace) -> None:
    out = _json(trainer(ws, "--run", FURNITURE_RUN, "--dataset", "photos", "--split", "val", "--json"))
    assert out["metrics"]["text_to_image_num_queries"] == 3 and out["metrics"]["image_to_text_num_queries"] == 3
    assert out["notes"] == ["3 of the 6 val items have no captions: left out of the caption directions"]
    last = _events(ws, FURNITURE_RUN)[-1]
    assert isinstance(last, Eval) and (last.dataset, last.split) == ("photos", "val")


def test_bad_input_is_one_line_and_exit_2(ws: Workspace, tmp_path: Path) -> None:
    no_slot = tmp_path / "prompts.txt"
    no_slot.write_text("a photo of something\n", encoding="utf-8")
    assert _refused(trainer(ws, "--run", FURNITURE_RUN, "--by-category", "--prompts", str(no_slot))) == (
        f"trainer: error: {no_slot}: line 1: 'a photo of something' has no {{}} where the category goes")
    missing = tmp_path / "absent.txt"
    assert str(missing) in _refused(trainer(ws, "--run", FURNITURE_RUN, "--by-category", "--prompts", str(missing)))
    assert "--by-category" in _refused(trainer(ws, "--run", FURNITURE_RUN, "--prompts", str(no_slot)))
    one = _refused(trainer(ws, "--run", FURNITURE_RUN, "--dataset", "mono", "--by-category"))
    assert "'mono' has one category ('table')" in one and "at least 2" in one
