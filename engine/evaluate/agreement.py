"""Whether two inference paths rank alike (:mod:`engine.models.inference`): the same queries against the same
candidates, encoded once on each path.

* ``top_k_overlap``: per query, the share of the reference path's top ``k`` candidates that the other path's top
  ``k`` also holds, averaged over queries (1.0: the same neighbours, in any order).
* ``max_recall_delta_points``: the largest difference of any ``R@k`` metric between the paths' retrieval metrics,
  in percentage points.

:func:`run_agreement` measures both for a run's model on its own dataset (every split: a retrieval set as large as
the dataset). ``bench/cpu_inference.py`` reports them for a real-size model and for the ``trainer demo`` runs;
``tests/engine/index/test_inference_path.py`` checks them on the test run and
``tests/engine/evaluate/test_demo_run_agreement.py`` on the ``trainer demo`` scenes run (overlap >= 0.95, every R@k
within 0.5 point).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.models.inference import InferencePath

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class RunAgreement:
    """How a run's ranks on another inference path compare with the exact path's, on its dataset's items."""

    run: str
    path: str
    items: int
    overlap: dict[str, float]  # "text->shape": top-10 overlap with the exact path, per direction
    recall_deltas: dict[str, float]  # every R@k metric: the other path's value minus the exact one's, in points

    @property
    def min_overlap(self) -> float:
        return min(self.overlap.values())

    @property
    def max_recall_delta_points(self) -> float:
        return max((abs(v) for v in self.recall_deltas.values()), default=0.0)


def run_agreement(catalog: Catalog, run: str, path: InferencePath, k: int = 10) -> RunAgreement:
    """The run's model on the exact path and on ``path`` (CPU), each encoding every item of the run's dataset
    (all splits) with a visual observation: :func:`top_k_overlap` both ways and every R@k's difference."""
    from engine.data.multifold import EmptySplitError
    from engine.evaluate.encode import encode_items
    from engine.evaluate.split import retrieval_metrics, visual_items
    from engine.models.inference import InferencePath
    from engine.run.restore import restore_run

    restored = {p: restore_run(catalog, run, device="cpu", inference=p) for p in (InferencePath.EXACT, path)}
    dataset = restored[path].config.dataset
    kind, items = "", []
    for split in SPLITS:
        try:
            kind, found = visual_items(catalog, dataset, split)
        except EmptySplitError:  # a small dataset's split may hold no item
            continue
        items += found
    encoded = {p: encode_items(r.encoder, kind, items, r.preprocess, r.tokenizer, r.device)
               for p, r in restored.items()}
    visual = "shape" if kind == "shape-text" else "image"
    ref, got = encoded[InferencePath.EXACT], encoded[path]
    overlap = {f"{q}->{c}": encoded_overlap(ref.emb, got.emb, q, c, k)
               for q, c in (("text", visual), (visual, "text"))}
    exact_metrics, other_metrics = retrieval_metrics(ref, visual), retrieval_metrics(got, visual)
    deltas = {key: (other_metrics[key] - value) * 100.0 for key, value in exact_metrics.items()
              if "_R@" in key and key in other_metrics}
    return RunAgreement(run, path.value, len(items), overlap, deltas)


def top_k_overlap(ref_queries: Tensor, ref_candidates: Tensor, queries: Tensor, candidates: Tensor,
                  k: int = 10) -> float:
    """Mean share of each query's reference top ``k`` kept by the other path (rows: L2-normalised embeddings)."""
    k = min(k, ref_candidates.shape[0])
    if k == 0 or ref_queries.shape[0] == 0:
        return 1.0
    ref = (ref_queries.float() @ ref_candidates.float().T).topk(k, dim=1).indices
    other = (queries.float() @ candidates.float().T).topk(k, dim=1).indices
    kept = (ref.unsqueeze(2) == other.unsqueeze(1)).any(dim=2).float().sum(dim=1) / k
    return float(kept.mean())


def max_recall_delta_points(reference: dict[str, float], other: dict[str, float]) -> float:
    """The largest ``|R@k|`` difference over the metrics both have, in points (0-100 scale)."""
    keys = [key for key in reference if "_R@" in key and key in other]
    return max((abs(reference[key] - other[key]) * 100.0 for key in keys), default=0.0)


def encoded_overlap(reference: dict[str, Tensor], other: dict[str, Tensor], query: str, candidate: str,
                    k: int = 10) -> float:
    """:func:`top_k_overlap` of two encodings of a split (``emb`` dicts by modality) in one direction."""
    with torch.no_grad():
        return top_k_overlap(reference[query], reference[candidate], other[query], other[candidate], k)
