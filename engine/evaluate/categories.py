"""By-category evaluation: zero-shot classification of a split's items by their catalogue category.

The 3D field's protocol (ModelNet40, Objaverse-LVIS, ShapeNet zero-shot top-1) with CLIP's prompt ensembling:
one text per category and prompt template (the template's ``{}`` filled with the category's label: its last
``/`` part, ``_`` and ``-`` as spaces), each text embedding L2-normalised, averaged over the templates and
normalised again; each item — its views pooled into one embedding (shapes) or its image — is ranked against the
categories by cosine. The candidates are every category of the dataset; the items ranked are the split's items
that have a category (the others are left out and counted). An item's rank is 1 + the number of categories that
score strictly higher than its own.

Reported (keys in :mod:`engine.metric_keys`): top-1 and top-5 accuracy over items, the mean of the per-category
top-1 (balanced accuracy), per category its item count, top-1 and top-5, the most confused pairs
(true -> predicted, count), and the items labelled wrongly (:class:`~engine.run.events.CategoryMiss`: id, key,
true, predicted, the true category's rank; the report keeps all of them, its record the :data:`MAX_WRONG` whose
true category ranked worst, with their count: the app's list of mislabelled items). Runs of every kind are
evaluated alike (their encoder comes from :func:`engine.run.restore.restore_run`); captions play no part, so
datasets without them work.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.catalog import Catalog
from engine.data.multifold import ItemObservations
from engine.errors import CrossfoldError
from engine.evaluate.encode import encode_items, encode_texts
from engine.evaluate.split import remap_views, visual_items
from engine.fmt import pct
from engine.metric_keys import (
    CATEGORY_COUNT,
    CATEGORY_ITEMS,
    CATEGORY_MEAN_TOP1,
    CATEGORY_TOP1,
    CATEGORY_TOP5,
    CATEGORY_UNLABELLED,
)
from engine.run.events import CategoryMiss

PLACEHOLDER = "{}"
#: The default prompt ensembles, by dataset kind: rendered shapes and photos.
SHAPE_TEMPLATES = ("a 3D model of a {}.", "a render of a {}.", "a photo of a {}.")
IMAGE_TEMPLATES = ("a photo of a {}.", "a photo of the {}.", "a close-up photo of a {}.", "a cropped photo of a {}.",
                   "a good photo of a {}.")
TOP_K = 5
#: How many of the most confused pairs a report keeps.
TOP_CONFUSIONS = 10
#: How many of the items labelled wrongly a record (the ``eval_categories`` event, ``--json``) lists: those whose
#: true category ranked worst (a confusion with a near neighbour, rank 2, is the least surprising).
MAX_WRONG = 500
#: The longest prompt templates file read (bytes): a list of templates is a few lines.
MAX_TEMPLATES_BYTES = 1 << 20


def default_templates(kind: str) -> tuple[str, ...]:
    """The prompt ensemble for a dataset kind (``shape-text``: renders of 3D models; else photos)."""
    return SHAPE_TEMPLATES if kind == "shape-text" else IMAGE_TEMPLATES


def category_label(category: str) -> str:
    """The words a category stands for: ``furniture/office_chair`` -> ``office chair``."""
    last = category.rstrip("/").rsplit("/", 1)[-1]
    return " ".join(last.replace("_", " ").replace("-", " ").split())


def fill(template: str, category: str) -> str:
    """``template`` with every ``{}`` replaced by the category's label (other braces are left as they are)."""
    return template.replace(PLACEHOLDER, category_label(category))


def read_templates(path: Path) -> list[str]:
    """Prompt templates from a file: one per line, each with ``{}`` where the category goes; blank lines and lines
    starting with ``#`` are skipped. A file that cannot be used raises :class:`CrossfoldError` naming it."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TEMPLATES_BYTES + 1)
    except OSError as exc:
        raise CrossfoldError(f"{path}: cannot read the prompt templates ({exc.strerror or exc})") from None
    if len(data) > MAX_TEMPLATES_BYTES:
        raise CrossfoldError(f"{path}: not a prompt templates file (over {MAX_TEMPLATES_BYTES} bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CrossfoldError(f"{path}: not UTF-8 text (byte {exc.start}): expected one prompt template a line") \
            from None
    templates = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if PLACEHOLDER not in line:
            raise CrossfoldError(f"{path}: line {number}: {line[:60]!r} has no {PLACEHOLDER} where the category goes")
        templates.append(line)
    if not templates:
        raise CrossfoldError(f"{path}: no prompt templates (one a line, each with {PLACEHOLDER} for the category)")
    return templates


@torch.no_grad()
def category_embeddings(
    encoder: torch.nn.Module, categories: Sequence[str], templates: Sequence[str], tokenizer: Callable,
    device: torch.device,
) -> Tensor:
    """``[C, d]``: per category, its templates' text embeddings L2-normalised, averaged, normalised again."""
    texts = [fill(t, c) for c in categories for t in templates]
    emb = F.normalize(encode_texts(encoder, texts, tokenizer, device), dim=-1)
    return F.normalize(emb.view(len(categories), len(templates), -1).mean(dim=1), dim=-1)


def item_embeddings(
    encoder: torch.nn.Module, kind: str, items: Sequence[ItemObservations], preprocess: Callable,
    tokenizer: Callable, device: torch.device,
) -> tuple[Tensor, Tensor]:
    """``([N, d], [N] item ids)``: one L2-normalised embedding per item: its views pooled (shapes), or its image
    (the mean of its images, normalised, when it has several)."""
    encoded = encode_items(encoder, kind, [replace(it, captions=()) for it in items], preprocess, tokenizer, device)
    if kind == "shape-text":
        return encoded.emb["shape"], encoded.items["shape"]
    ids, rows = torch.unique(encoded.items["image"], sorted=True, return_inverse=True)
    summed = torch.zeros(len(ids), encoded.emb["image"].shape[1]).index_add_(0, rows, encoded.emb["image"])
    return F.normalize(summed, dim=-1), ids


@dataclass(frozen=True)
class CategoryScore:
    """One category's items and the fractions of them whose category ranked first / in the top 5."""

    count: int
    top1: float
    top5: float


@dataclass
class CategoryReport:
    dataset: str
    split: str
    kind: str
    templates: list[str]
    categories: list[str]  # the candidates: every category of the dataset
    metrics: dict[str, float]
    per_category: dict[str, CategoryScore]  # the categories of the split's items, by name
    confusions: list[tuple[str, str, int]]  # (true, predicted, items), most first
    wrong: list[CategoryMiss] = field(default_factory=list)  # every item labelled wrongly, in item id order

    def per_category_record(self) -> dict[str, dict[str, float]]:
        return {name: {"count": s.count, CATEGORY_TOP1: s.top1, CATEGORY_TOP5: s.top5}
                for name, s in self.per_category.items()}

    def confusions_record(self) -> dict[str, dict[str, int]]:
        """The most confused pairs as ``{true: {predicted: items}}`` (in the order of :attr:`confusions`)."""
        out: dict[str, dict[str, int]] = {}
        for true, predicted, count in self.confusions:
            out.setdefault(true, {})[predicted] = count
        return out

    def wrong_record(self, limit: int = MAX_WRONG) -> list[CategoryMiss]:
        """The ``limit`` items labelled wrongly whose true category ranked worst: by rank (highest first), then
        true category, then key (the order the failure browser lists them in)."""
        return sorted(self.wrong, key=lambda m: (-m.rank, m.true, m.key, m.item))[:limit]

    def to_record(self) -> dict[str, Any]:
        """What ``trainer eval --by-category --json`` prints (with the run's fields)."""
        return {"dataset": self.dataset, "split": self.split, "templates": self.templates,
                "categories": self.categories, "metrics": self.metrics, "per_category": self.per_category_record(),
                "confusions": [{"true": t, "predicted": p, "count": n} for t, p, n in self.confusions],
                "wrong": [dataclasses.asdict(m) for m in self.wrong_record()], "num_wrong": len(self.wrong)}


def _per_category(truth: Tensor, ranks: Tensor, categories: Sequence[str]) -> dict[str, CategoryScore]:
    out = {}
    for c, name in enumerate(categories):
        mine = truth == c
        n = int(mine.sum())
        if n:
            out[name] = CategoryScore(n, int((ranks[mine] == 1).sum()) / n, int((ranks[mine] <= TOP_K).sum()) / n)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1].top1, kv[0])))


def score_items(
    item_emb: Tensor, truth: Tensor, class_emb: Tensor, categories: Sequence[str], top_confusions: int = TOP_CONFUSIONS,
) -> tuple[dict[str, float], dict[str, CategoryScore], list[tuple[str, str, int]], Tensor, Tensor]:
    """Rank items (``[N, d]``, true category indices ``truth [N]``) against categories (``[C, d]``): the summary
    metrics, per-category scores (best top-1 first), the most confused pairs, each item's rank of its own category
    and its predicted category index."""
    scores = item_emb.float() @ class_emb.float().T
    own = scores.gather(1, truth[:, None])
    ranks = 1 + (scores > own).sum(dim=1)
    predicted = torch.where(ranks == 1, truth, scores.argmax(dim=1))
    per_category = _per_category(truth, ranks, categories)
    metrics = {
        CATEGORY_TOP1: int((ranks == 1).sum()) / len(ranks),
        CATEGORY_TOP5: int((ranks <= TOP_K).sum()) / len(ranks),
        CATEGORY_MEAN_TOP1: sum(s.top1 for s in per_category.values()) / len(per_category),
    }
    pairs = Counter((categories[t], categories[p]) for t, p in zip(truth.tolist(), predicted.tolist(), strict=True)
                    if t != p)
    confusions = sorted(((t, p, n) for (t, p), n in pairs.items()), key=lambda x: (-x[2], x[0], x[1]))
    return metrics, per_category, confusions[:top_confusions], ranks, predicted


def labelled_items(
    catalog: Catalog, dataset: str, split: str,
) -> tuple[str, list[ItemObservations], int, list[str]]:
    """``(kind, the split's items with a visual and a category, items left out for having no category, the
    dataset's categories)``; fewer than two categories, or no labelled item, raise :class:`CrossfoldError`."""
    kind, items = visual_items(catalog, dataset, split)
    categories = [c for c in catalog.categories(catalog.require_dataset(dataset).id) if c]
    if len(categories) < 2:
        has = f"one category ({categories[0]!r})" if categories else "no categories"
        raise CrossfoldError(f"dataset {dataset!r} has {has}: by-category evaluation needs at least 2 (a folder "
                             "import takes them from its sub-folders)")
    labelled = [it for it in items if it.category]
    if not labelled:
        raise CrossfoldError(f"dataset {dataset!r}: none of the {len(items)} {split} items has a category")
    return kind, labelled, len(items) - len(labelled), categories


def evaluate_categories(
    encoder: torch.nn.Module, catalog: Catalog, dataset: str, split: str, preprocess: Callable,
    tokenizer: Callable, device: torch.device, view_map: dict[str, str] | None = None,
    templates: Sequence[str] | None = None, top_confusions: int = TOP_CONFUSIONS,
) -> CategoryReport:
    """Zero-shot classification of ``split``'s items by category (module docstring); ``templates`` default to
    :func:`default_templates` of the dataset's kind; ``view_map`` reads views from other files (the dataset's shapes
    rendered at the model's input size, :func:`engine.data.rendering.views_at_size`)."""
    kind, items, unlabelled, categories = labelled_items(catalog, dataset, split)
    if view_map:
        items = remap_views(items, view_map)
    chosen = list(templates) if templates is not None else list(default_templates(kind))
    class_emb = category_embeddings(encoder, categories, chosen, tokenizer, device)
    item_emb, ids = item_embeddings(encoder, kind, items, preprocess, tokenizer, device)
    index = {c: i for i, c in enumerate(categories)}
    category_of = {it.item_id: it.category for it in items}
    key_of = {it.item_id: it.key for it in items}
    truth = torch.tensor([index[category_of[int(i)]] for i in ids.tolist()], dtype=torch.long)
    metrics, per_category, confusions, ranks, predicted = score_items(item_emb, truth, class_emb, categories,
                                                                      top_confusions)
    metrics.update({CATEGORY_ITEMS: float(len(items)), CATEGORY_COUNT: float(len(categories)),
                    CATEGORY_UNLABELLED: float(unlabelled)})
    wrong = [CategoryMiss(item=i, key=key_of[i], true=categories[t], predicted=categories[p], rank=r)
             for i, t, p, r in zip(ids.tolist(), truth.tolist(), predicted.tolist(), ranks.tolist(), strict=True)
             if t != p]
    return CategoryReport(dataset, split, kind, chosen, categories, metrics, per_category, confusions, wrong)


def format_categories(report: CategoryReport) -> str:
    """A plain-text table of a by-category evaluation: the summary, categories by top-1, the confusions."""
    m = report.metrics
    lines = [f"top-1 {pct(m[CATEGORY_TOP1])}  top-5 {pct(m[CATEGORY_TOP5])}  "
             f"mean per category {pct(m[CATEGORY_MEAN_TOP1])}  "
             f"({int(m[CATEGORY_ITEMS])} items, {int(m[CATEGORY_COUNT])} categories"
             + (f", {int(m[CATEGORY_UNLABELLED])} items without a category left out" if m[CATEGORY_UNLABELLED]
                else "") + ")"]
    header = ["category", "items", "top-1", "top-5"]
    body = [[name, str(s.count), pct(s.top1), pct(s.top5)] for name, s in report.per_category.items()]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]

    def render(row: list[str]) -> str:
        return "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    lines += ["", render(header), "  ".join("-" * w for w in widths), *(render(row) for row in body)]
    if report.confusions:
        lines += ["", "most confused (true -> predicted: items)"]
        lines += [f"  {t} -> {p}: {n}" for t, p, n in report.confusions]
    else:
        lines += ["", "no item was labelled wrongly"]
    shown = "; ".join(report.templates[:3]) + (f"; ... ({len(report.templates)} in all)"
                                                if len(report.templates) > 3 else "")
    lines.append(f"prompts: {shown}")
    return "\n".join(lines)
