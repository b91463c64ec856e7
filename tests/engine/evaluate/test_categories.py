"""By-category evaluation (zero-shot classification by the items' categories): prompt templates, the scoring on
hand-made embeddings, a trained model far above chance on its test split, and the module's numbers against an
independent computation (encode the prompts and the items here, average, rank by cosine, count) on two runs: a
trained one and a zero-shot run of random weights, whose mistakes make the comparison bite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from engine.errors import CrossfoldError
from engine.evaluate.categories import (
    MAX_WRONG,
    CategoryReport,
    category_label,
    default_templates,
    evaluate_categories,
    fill,
    read_templates,
    score_items,
)
from engine.metric_keys import (
    CATEGORY_COUNT,
    CATEGORY_ITEMS,
    CATEGORY_MEAN_TOP1,
    CATEGORY_TOP1,
    CATEGORY_TOP5,
    CATEGORY_UNLABELLED,
)
from engine.run.events import CategoryMiss
from engine.run.restore import restore_run
from engine.workspace import Workspace
from tests.conftest import FURNITURE_RUN, ZERO_SHOT_RUN
from tests.engine.evaluate.conftest import FURNITURE, LABELS, PER_CATEGORY, SPLITS

#: The prompt ensemble issue 19 names for shapes (the test's own copy: it checks the module's default).
SHAPE_PROMPTS = ["a 3D model of a {}.", "a render of a {}.", "a photo of a {}."]


def test_labels_are_the_words_of_the_category() -> None:
    assert category_label("office_chair") == "office chair"
    assert category_label("floor-lamp") == "floor lamp"
    assert category_label("furniture/dining__table/") == "dining table"
    assert fill("a {} on a {{shelf}}", "night_stand") == "a night stand on a {{shelf}}"
    assert list(default_templates("shape-text")) == SHAPE_PROMPTS
    assert all("{}" in t for t in default_templates("image-text"))
    assert "a photo of a {}." in default_templates("image-text")


def test_a_templates_file_is_read_line_by_line(tmp_path: Path) -> None:
    good = tmp_path / "prompts.txt"
    good.write_text("# mine\n\na sketch of a {}.\n  a toy {}  \n", encoding="utf-8")
    assert read_templates(good) == ["a sketch of a {}.", "a toy {}"]


@pytest.mark.parametrize(("content", "problem"), [
    (b"a sketch of a {}.\na drawing of a thing\n", "line 2: 'a drawing of a thing' has no {}"),
    (b"\n# only a comment\n", "no prompt templates"),
    (b"a \xff{}\n", "not UTF-8"),
])
def test_a_bad_templates_file_is_one_line_naming_it(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "prompts.txt"
    path.write_bytes(content)
    with pytest.raises(CrossfoldError) as raised:
        read_templates(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_a_missing_or_folder_templates_file_is_one_line(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.txt", tmp_path):
        with pytest.raises(CrossfoldError, match="cannot read the prompt templates"):
            read_templates(path)


def test_scores_from_hand_made_embeddings() -> None:
    categories = ["a", "b", "c", "d", "e", "f"]
    class_emb = torch.eye(6)
    rows = [
        ([1, 0, 0, 0, 0, 0], 0),  # a: first
        ([0.2, 0.9, 0.1, 0, 0, 0], 0),  # a: b scores higher -> rank 2, taken for b
        ([0, 1, 0, 0, 0, 0], 1),  # b: first
        ([0.7, 0.1, 0.3, 0, 0, 0], 2),  # c: a scores higher -> rank 2, taken for a
        ([0.5, 0.5, 0.5, 0, 0, 0], 2),  # c: tied with a and b -> first (a tie counts for the item)
        ([0.5, 0.4, 0.3, 0.2, 0.1, 0], 5),  # f: last of six -> not in the top 5, taken for a
    ]
    emb = F.normalize(torch.tensor([r for r, _ in rows], dtype=torch.float), dim=-1)
    truth = torch.tensor([t for _, t in rows])
    metrics, per_category, confusions, ranks, predicted = score_items(emb, truth, class_emb, categories)
    assert ranks.tolist() == [1, 2, 1, 2, 1, 6]
    assert predicted.tolist() == [0, 1, 1, 0, 2, 0]
    assert metrics[CATEGORY_TOP1] == pytest.approx(3 / 6)
    assert metrics[CATEGORY_TOP5] == pytest.approx(5 / 6)
    assert metrics[CATEGORY_MEAN_TOP1] == pytest.approx((0.5 + 1 + 0.5 + 0) / 4)  # categories with items only
    assert list(per_category) == ["b", "a", "c", "f"]  # best top-1 first, then by name
    assert [(s.count, s.top1, s.top5) for s in per_category.values()] == [(1, 1, 1), (2, .5, 1), (2, .5, 1),
                                                                           (1, 0, 0)]
    assert confusions == [("a", "b", 1), ("c", "a", 1), ("f", "a", 1)]
    assert score_items(emb, truth, class_emb, categories, top_confusions=1)[2] == [("a", "b", 1)]


def test_a_record_lists_the_worst_ranked_wrong_items_and_counts_them_all() -> None:
    misses = [CategoryMiss(item=i, key=f"k{i:02d}", true="a", predicted="b", rank=2 + i % 4) for i in range(12)]
    report = CategoryReport("d", "test", "image-text", ["{}"], ["a", "b"], {}, {}, [], misses)
    assert [(m.rank, m.key) for m in report.wrong_record(limit=5)] == [(5, "k03"), (5, "k07"), (5, "k11"),
                                                                       (4, "k02"), (4, "k06")]
    record = report.to_record()
    assert record["num_wrong"] == len(record["wrong"]) == 12
    assert record["wrong"][0] == {"item": 3, "key": "k03", "true": "a", "predicted": "b", "rank": 5}
    many = CategoryReport("d", "test", "image-text", ["{}"], ["a", "b"], {}, {}, [], misses * 50)
    assert len(many.to_record()["wrong"]) == MAX_WRONG < 600 == many.to_record()["num_wrong"]


# ---- on trained and zero-shot runs -------------------------------------------------------------------------------
def _report(root: Path, run: str, split: str = "test"):
    ws = Workspace.open(root)
    catalog = ws.catalog()
    restored = restore_run(catalog, run, device="cpu")
    return restored, evaluate_categories(restored.encoder, catalog, "furniture", split, restored.preprocess,
                                         restored.tokenizer, restored.device)


@pytest.mark.slow  # the session's furniture run: about a minute of training on 2 cores, once
def test_a_model_trained_on_captions_naming_the_category_labels_its_test_split_far_above_chance(
    trained_furniture: Path,
) -> None:
    _, report = _report(trained_furniture, FURNITURE_RUN)
    m = report.metrics
    test_items = PER_CATEGORY // len(SPLITS)
    assert (m[CATEGORY_ITEMS], m[CATEGORY_COUNT], m[CATEGORY_UNLABELLED]) == (3 * test_items, 3, 0)
    assert {name: s.count for name, s in report.per_category.items()} == dict.fromkeys(FURNITURE, test_items)
    assert m[CATEGORY_TOP1] >= 0.8 and m[CATEGORY_MEAN_TOP1] >= 0.8  # chance: 1/3
    assert m[CATEGORY_TOP5] == 1.0  # three categories: the top 5 holds them all
    assert report.templates == SHAPE_PROMPTS


def _independent(restored, root: Path, split: str = "test") -> dict:
    """The protocol computed here from the files: prompts -> normalised text embeddings -> mean per category ->
    normalised; views -> normalised image embeddings -> the run's view pooling; rank by cosine; count."""
    enc, names = restored.encoder, list(FURNITURE)
    texts = [t.format(LABELS[n]) for n in names for t in SHAPE_PROMPTS]
    with torch.no_grad():
        text = F.normalize(enc.encode_texts(restored.tokenizer(texts))[1].float(), dim=-1)
        classes = F.normalize(text.view(len(names), len(SHAPE_PROMPTS), -1).mean(1), dim=-1)
        shapes, truth = [], []
        for c, name in enumerate(names):
            for i in range(PER_CATEGORY):
                if SPLITS[i % len(SPLITS)] != split:
                    continue
                files = sorted((root / "furniture" / name).glob(f"{i:03d}_*.png"))
                views = torch.stack([restored.preprocess(Image.open(p).convert("RGB")) for p in files])
                shapes.append(enc.pool_views(enc.encode_images(views)[1][None])[0].float())
                truth.append(c)
    scores = torch.stack(shapes) @ classes.T
    predicted = scores.argmax(1).tolist()
    hits = [p == t for p, t in zip(predicted, truth, strict=True)]
    per = {n: sum(h for h, t in zip(hits, truth, strict=True) if t == c) / truth.count(c) for c, n in enumerate(names)}
    wrong = Counter((names[t], names[p]) for p, t in zip(predicted, truth, strict=True) if p != t)
    return {"top1": sum(hits) / len(hits), "mean": sum(per.values()) / len(per), "per": per, "wrong": wrong,
            "n": len(hits)}


@pytest.mark.slow
@pytest.mark.parametrize("run", [FURNITURE_RUN, ZERO_SHOT_RUN])
def test_the_numbers_match_an_independent_computation(trained_furniture: Path, run: str) -> None:
    restored, report = _report(trained_furniture, run)
    expected = _independent(restored, trained_furniture)
    m = report.metrics
    assert m[CATEGORY_ITEMS] == expected["n"]
    assert m[CATEGORY_TOP1] == pytest.approx(expected["top1"], abs=1e-9)
    assert m[CATEGORY_MEAN_TOP1] == pytest.approx(expected["mean"], abs=1e-9)
    assert {n: s.top1 for n, s in report.per_category.items()} == pytest.approx(expected["per"], abs=1e-9)
    assert {(t, p): n for t, p, n in report.confusions} == dict(expected["wrong"])
    assert Counter((w.true, w.predicted) for w in report.wrong) == expected["wrong"]
    assert all(w.rank >= 2 and w.key.startswith(f"{w.true}/") for w in report.wrong)
