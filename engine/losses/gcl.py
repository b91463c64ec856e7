"""``gcl``: Generalized Contrastive Learning (Lee et al., NeurIPS 2025, arXiv 2509.25638, Sec. 3, Eq. 2).

Per item three kinds of embedding: the visual ``e_V`` (the pooled ``shape``, or the image), the caption
``e_T`` and the fused ``e_VT``; contrastive terms over the six ordered pairs of different modalities
(V->T, T->V, V->VT, VT->V, T->VT, VT->T) within the mini-batch, averaged (the paper's ``1/(6N)``)::

    (G1)  e_VT = normalize(e_V + e_T)                  score-level fusion of a dual encoder (CLIP-SF)
    (G2)  l_{m->n}(x) = -mean_{p in P_n(x)} log [ exp(s <x, e_p>) / sum_{c in C(x)} exp(s <x, e_c>) ]
    (G3)  L = sum_{m != n} w_{m->n} mean_x l_{m->n}(x) / sum_{m != n} w_{m->n}

``P_n(x)``: the embeddings of modality ``n`` of the item of ``x``. ``C(x)``, the candidates: with
``softmax="union"`` (default) every embedding of *both* other modalities in the batch, so the right item has to
win whatever the candidate's modality; with ``softmax="pair"`` only those of ``n`` (three CLIP losses).

Multifold batches: every caption is a text observation with its own fused embedding (``e_V`` of its item +
that caption), so each item has one ``e_V`` and ``C`` captions and fused embeddings, and every same-item pair is
a positive. With ``decouple_fused`` (default) a caption and the fused embedding *built from that caption* are
neither positive nor negative of each other when the item has another caption: T<->VT is then learnt from
the item's other captions, so it cannot be solved by recognising the copy of ``e_T`` inside ``e_VT``. With one
caption per item everything reduces to the paper's single-pair loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor
from torch.nn import functional as F

from .base import (
    Embeddings,
    LossError,
    LossOutput,
    MultifoldLoss,
    compute_dtype,
    pool_per_item,
    positive_mask,
    soft_cross_entropy,
)
from .names import GCL

MODALITIES = ("image", "text", "fused")
TERMS = tuple(f"{m}_{n}" for m in MODALITIES for n in MODALITIES if m != n)
SOFTMAX_CHOICES = ("union", "pair")
VISUAL_CHOICES = ("auto", "shape", "image")


def fuse(visual: Tensor, visual_items: Tensor, text: Tensor, text_items: Tensor) -> Tensor:
    """(G1) for every caption: ``normalize(e_V[item of caption] + e_T)``; ``visual_items`` sorted and unique."""
    idx = torch.searchsorted(visual_items, text_items).clamp(max=max(visual_items.numel() - 1, 0))
    if visual_items.numel() == 0 or not bool((visual_items[idx] == text_items).all()):
        raise LossError("gcl: every caption's item needs a visual embedding (image or shape) in the batch")
    return F.normalize(visual[idx] + text, dim=-1)


def own_fused_mask(text_items: Tensor) -> Tensor:
    """``[Nt, Nt]``: True on (caption, fused-from-that-caption) for items with two or more captions."""
    _, inverse, counts = torch.unique(text_items, return_inverse=True, return_counts=True)
    several = counts[inverse] >= 2
    eye = torch.eye(text_items.numel(), dtype=torch.bool, device=text_items.device)
    return eye & several.unsqueeze(1)


class GCLLoss(MultifoldLoss):
    """GCL's contrastive loss over image (visual), text and fused embeddings, six directional terms (G1-G3).

    Options:
        weights: per directional term, keys among ``image_text, text_image, image_fused, fused_image,
            text_fused, fused_text`` (missing keys weigh 1.0); normalised to sum 1, so all-equal weights give
            the paper's mean over the six terms and ``{"image_text": 1, "text_image": 1}`` with the others 0 and
            ``softmax="pair"`` gives ``clip``.
        softmax: ``"union"`` (default): a query's softmax runs over both other modalities' embeddings at once;
            ``"pair"``: over one target modality at a time.
        decouple_fused: leave a caption and its own fused embedding out of each other's terms (see module doc).
            Ignored when the batch brings its own ``fused`` embeddings (a model with a fusion encoder).
        visual: ``"auto"`` (``shape`` when present, else the images pooled per item), ``"shape"`` or ``"image"``.

    Parts: the six terms, named ``{query}_{target}``; "image" is the visual modality (the pooled shape on shape
    datasets). ``weights`` holds the normalised weights.
    """

    name = GCL

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        softmax: str = "union",
        decouple_fused: bool = True,
        visual: str = "auto",
    ) -> None:
        super().__init__()
        raw = {t: 1.0 for t in TERMS}
        for key, value in (weights or {}).items():
            if key not in raw:
                raise LossError(f"gcl: unknown term {key!r} in weights (terms: {', '.join(TERMS)})")
            if float(value) < 0:
                raise LossError(f"gcl: weight of {key!r} must be >= 0, not {value}")
            raw[key] = float(value)
        total = sum(raw.values())
        if total <= 0:
            raise LossError("gcl: at least one term weight must be positive")
        if softmax not in SOFTMAX_CHOICES:
            raise LossError(f"gcl: softmax must be one of {', '.join(SOFTMAX_CHOICES)}, not {softmax!r}")
        if visual not in VISUAL_CHOICES:
            raise LossError(f"gcl: visual must be one of {', '.join(VISUAL_CHOICES)}, not {visual!r}")
        self.weights = {t: w / total for t, w in raw.items()}
        self.softmax = softmax
        self.decouple_fused = bool(decouple_fused)
        self.visual = visual

    def _embeddings(
        self, batch: Embeddings, dtype: torch.dtype
    ) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor | None]:
        """Visual per item (pooled, sorted by item id), captions, fused; plus the own-caption exclusion mask."""
        modality = batch.visual() if self.visual == "auto" else self.visual
        v, iv = batch.get(modality)
        v, iv = pool_per_item(v.to(dtype), iv)
        t, it = batch.get("text")
        t = t.to(dtype)
        if "fused" in batch.emb:
            f, i_f = batch.get("fused")
            f, own = f.to(dtype), None
        else:
            f, i_f = fuse(v, iv, t, it), it
            own = own_fused_mask(it) if self.decouple_fused else None
        return {"image": v, "text": t, "fused": f}, {"image": iv, "text": it, "fused": i_f}, own

    def forward(self, batch: Embeddings, logit_scale: Tensor) -> LossOutput:
        dtype = compute_dtype(logit_scale, *batch.emb.values())
        emb, items, own = self._embeddings(batch, dtype)
        scale = logit_scale.to(dtype)

        logits: dict[tuple[str, str], Tensor] = {}
        pos: dict[tuple[str, str], Tensor] = {}
        for i, m in enumerate(MODALITIES):
            for n in MODALITIES[i + 1 :]:
                lg = scale * (emb[m] @ emb[n].T)
                p = positive_mask(items[m], items[n])
                if own is not None and {m, n} == {"text", "fused"}:
                    lg = lg.masked_fill(own, float("-inf"))  # own is symmetric: (caption c, fused c)
                    p = p & ~own
                logits[m, n], pos[m, n] = lg, p
                logits[n, m], pos[n, m] = lg.T, p.T

        parts: dict[str, Tensor] = {}
        for m in MODALITIES:
            n, k = (x for x in MODALITIES if x != m)
            if self.softmax == "pair":
                parts[f"{m}_{n}"] = soft_cross_entropy(logits[m, n], pos[m, n])
                parts[f"{m}_{k}"] = soft_cross_entropy(logits[m, k], pos[m, k])
            else:
                union = torch.cat([logits[m, n], logits[m, k]], dim=1)
                none_n, none_k = torch.zeros_like(pos[m, n]), torch.zeros_like(pos[m, k])
                parts[f"{m}_{n}"] = soft_cross_entropy(union, torch.cat([pos[m, n], none_k], dim=1))
                parts[f"{m}_{k}"] = soft_cross_entropy(union, torch.cat([none_n, pos[m, k]], dim=1))

        parts = {t: parts[t] for t in TERMS}
        total = sum((self.weights[t] * parts[t] for t in TERMS), torch.zeros((), dtype=dtype, device=scale.device))
        return LossOutput(total=total, parts=parts, weights=dict(self.weights))
