"""Failure cases of a trained run, for the app's failure browser: the queries whose ground truth ranked below k.

:func:`run_failures` restores a run's checkpoint, encodes one split of its dataset, and for one direction
(``text_to_shape``, ``shape_to_text``, the fused ``text_to_shape_text`` / ``shape_text_to_text``, or the
``image`` equivalents) returns every query whose first correct candidate ranked below ``k``, each with
its top-``k`` candidates and the rank and score of the right item. Rows are described by what a person
looks at: the caption text, or the path of a view / image to show as a thumbnail, and the item key.

The embeddings and the fused rows are built exactly as :func:`engine.evaluate.split.retrieval_metrics`
builds them, so a failure listed here is a miss counted by the run's evaluation table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from engine.catalog import Catalog
from engine.data.multifold import ItemObservations, load_items
from engine.evaluate.encode import EncodedSplit, encode_items
from engine.evaluate.retrieval import parse_direction, rank_failures
from engine.evaluate.split import first_caption_mask
from engine.metric_keys import direction_name
from engine.models.fusion import fuse


@dataclass(frozen=True)
class RowInfo:
    """What one embedding row stands for: its item, and a caption and/or a picture to show."""

    item_id: int
    key: str
    category: str = ""
    text: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class FailureCandidate:
    rank: int  # 1-based position in the top k
    score: float
    correct: bool  # same item as the query
    row: RowInfo


@dataclass(frozen=True)
class FailureCase:
    direction: str
    query_index: int
    query: RowInfo
    rank: int  # 1-based rank of the first correct candidate (> k)
    correct_score: float
    num_relevant: int
    candidates: list[FailureCandidate]
    answer: RowInfo | None  # one row of the right item in the candidate modality


@dataclass(frozen=True)
class FailureReport:
    run: str
    dataset: str
    split: str
    direction: str
    k: int
    checkpoint: str
    step: int
    num_queries: int
    failures: list[FailureCase] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    truncated: bool = False


def failure_directions(kind: str) -> list[str]:
    """The directions the run's evaluation reports, for a dataset kind (``shape-text`` or ``image-text``)."""
    v = "shape" if kind == "shape-text" else "image"
    fused = f"{v}_text"
    return [direction_name("text", v), direction_name(v, "text"), direction_name("text", fused),
            direction_name(fused, "text")]


def split_rows(
    kind: str, items: list[ItemObservations], encoded: EncodedSplit,
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, list[RowInfo]]]:
    """Embeddings, item ids and row descriptions per modality: ``text``, the visual one, and the fused one."""
    visual = "shape" if kind == "shape-text" else "image"
    by_id = {it.item_id: it for it in items}
    emb, ids = encoded.emb, encoded.items

    def info(item_id: int, text: str | None = None, image: str | None = None) -> RowInfo:
        it = by_id[item_id]
        return RowInfo(item_id, it.key, "", text, image)

    text_rows = [info(it.item_id, text=c) for it in items for c in it.captions]
    if visual == "shape":
        visual_rows = [info(int(i), image=by_id[int(i)].visuals[0] if by_id[int(i)].visuals else None)
                       for i in ids["shape"].tolist()]
    else:
        visual_rows = [info(it.item_id, image=p) for it in items for p in it.visuals]
    out_emb = {"text": emb["text"], visual: emb[visual]}
    out_ids = {"text": ids["text"], visual: ids[visual]}
    rows = {"text": text_rows, visual: visual_rows}

    first = first_caption_mask(ids["text"]) if ids["text"].numel() else torch.zeros(0, dtype=torch.bool)
    rest = ~first
    if rest.any():
        key_items = ids["text"][first]
        vis_rows = {int(i): r for r, i in enumerate(ids[visual].tolist())}
        v = emb[visual][[vis_rows[int(i)] for i in key_items.tolist()]]
        fused = f"{visual}_text"
        first_rows = [r for r, keep in zip(text_rows, first.tolist(), strict=True) if keep]
        # the fused query/key side shows the item's picture with its first caption; the text side the others
        out_emb[fused] = fuse(v, emb["text"][first])
        out_ids[fused] = key_items
        rows[fused] = [info(r.item_id, text=r.text, image=visual_rows[vis_rows[r.item_id]].image)
                       for r in first_rows]
        out_emb["text_rest"] = emb["text"][rest]
        out_ids["text_rest"] = ids["text"][rest]
        rows["text_rest"] = [r for r, keep in zip(text_rows, rest.tolist(), strict=True) if keep]
    return out_emb, out_ids, rows


def failures_from_rows(
    emb: dict[str, Tensor], ids: dict[str, Tensor], rows: dict[str, list[RowInfo]], direction: str, k: int,
    limit: int | None = None,
) -> tuple[list[FailureCase], int]:
    """Failures of one direction from :func:`split_rows`' output; also returns how many queries were ranked."""
    query, candidate = parse_direction(direction)
    fused = query.endswith("_text") or candidate.endswith("_text")
    # fused directions pair the fused rows with the captions that are not part of any key (as the evaluation)
    q_mod = "text_rest" if (fused and query == "text") else query
    c_mod = "text_rest" if (fused and candidate == "text") else candidate
    for m in (q_mod, c_mod):
        if m not in emb:
            raise ValueError(f"direction {direction!r} needs {m.removesuffix('_rest')} embeddings, which this split "
                             f"does not have (an item needs two captions for fused directions)")
    e = {"q": emb[q_mod], "c": emb[c_mod]}
    i = {"q": ids[q_mod], "c": ids[c_mod]}
    found = rank_failures(e, i, ("q", "c"), k=k, limit=limit)
    cand_rows, cand_ids = rows[c_mod], ids[c_mod].tolist()
    first_row_of: dict[int, int] = {}
    for r, item in enumerate(cand_ids):
        first_row_of.setdefault(int(item), r)
    cases = []
    for f in found:
        candidates = [
            FailureCandidate(rank=j + 1, score=s, correct=item == f.query_item, row=cand_rows[idx])
            for j, (idx, item, s) in enumerate(zip(f.candidate_indices, f.candidate_items, f.scores, strict=True))
        ]
        answer_row = first_row_of.get(f.query_item)
        cases.append(FailureCase(
            direction=direction, query_index=f.query_index, query=rows[q_mod][f.query_index], rank=f.rank,
            correct_score=f.correct_score, num_relevant=f.num_relevant, candidates=candidates,
            answer=cand_rows[answer_row] if answer_row is not None else None,
        ))
    return cases, int(e["q"].shape[0])


def run_failures(
    catalog: Catalog,
    run: str,
    split: str = "test",
    direction: str | None = None,
    k: int = 5,
    *,
    limit: int | None = 500,
    which: str = "best",
    device: str = "auto",
    dataset: str | None = None,
) -> FailureReport:
    """Restore ``run`` (its best checkpoint by default), encode ``split`` and list the failures of ``direction``
    (default: text to the dataset's visual modality) at ``k``, at most ``limit`` of them, in query order."""
    from engine.run.restore import restore_run

    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    restored = restore_run(catalog, run, which, device)
    name = dataset or restored.config.dataset
    kind, items = load_items(catalog, name, split)
    ds = catalog.require_dataset(name)
    categories = {it.id: it.category for it in catalog.items(ds.id, split=split)}
    directions = failure_directions(kind)
    direction = direction or directions[0]
    encoded = encode_items(restored.encoder, kind, items, restored.preprocess, restored.tokenizer, restored.device)
    emb, ids, rows = split_rows(kind, items, encoded)
    rows = {m: [_with_category(r, categories) for r in rs] for m, rs in rows.items()}
    cases, num_queries = failures_from_rows(emb, ids, rows, direction, k,
                                            limit=None if limit is None else limit + 1)
    truncated = limit is not None and len(cases) > limit
    return FailureReport(
        run=run, dataset=name, split=split, direction=direction, k=k, checkpoint=str(restored.checkpoint),
        step=restored.step, num_queries=num_queries, failures=cases[:limit] if limit is not None else cases,
        directions=directions, truncated=truncated,
    )


def _with_category(row: RowInfo, categories: dict[int, str]) -> RowInfo:
    return RowInfo(row.item_id, row.key, categories.get(row.item_id, ""), row.text, row.image)
