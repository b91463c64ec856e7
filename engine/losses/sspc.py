"""``sspc``: Semantic-Structure-Preserving Consistency (Swetha et al., ICCV 2023, arXiv 2308.13077).

A contrastive base loss (an injected ``MultifoldLoss``: ``clip`` or ``mxm``) plus a consistency term that
keeps each modality's own neighbourhood structure in the joint space. Per role ``m`` in (``visual``, ``text``)
there are ``K`` learnable anchors in the *input* space (encoder output before projection, ``batch.raw[m]``,
dimension ``dims[m]``) and ``K`` in the *joint* space (``batch.emb[m]``, ``embed_dim``). A sample is described
by its soft multi-anchor assignment (``engine.losses.sinkhorn.multi_assignment`` on ``[queue; batch]``).

The consistency pairs follow the public code (``AncSimilarityLoss`` in
``everything_at_once/loss/combinatorial_loss.py``), for every anchor role ``m`` and sample role ``s``:

* ``input:m<-joint:s@m``: the input-space scores of ``m``'s features on ``m``'s input anchors are trained
  towards the Multi-SK assignment of ``s``'s *joint* features on ``m``'s joint anchors (code: pairs 1..3);
* ``joint:s@m<-input:m``: the joint scores of ``s``'s features on ``m``'s joint anchors are trained towards
  the Multi-SK assignment of ``m``'s *input* features on ``m``'s input anchors (code: pairs 4..6).

``s == m`` keeps a modality's own structure; ``s != m`` is the cross-modal part (the item's other modality must
land on the same anchors). With two roles that is 8 terms, each ``BCE_with_logits(exp(score / 0.1), target)``
(the code's ``calculate_cost``), weighted (default 1.0, as the code's text/video pairs), summed, and added to
the contrastive loss with weight ``beta``. Targets are computed without gradient.

Item level: SSPC works on one row per item. The visual row is the item's ``shape`` embedding (or its ``image``
observations pooled); an item's several captions are pooled the same way: every observation L2-normalised,
averaged per item, renormalised. Rows are ordered by item id, which makes the term (and the queue update)
independent of the order of items and observations in the batch, up to floating-point rounding.

Queue: one ``FeatureQueue`` per (space, role), buffers of this module (saved in checkpoints). The term is 0
until every queue is full; the batch is pushed after the assignments are solved, in training mode only.
See ``engine/losses/README.md (section SSPC)`` for every choice made where the paper and the code leave one open.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .anchors import Anchors
from .base import Embeddings, LossError, LossOutput, MultifoldLoss
from .names import SSPC
from .queue import FeatureQueue
from .sinkhorn import DENOM_EPS, multi_assignment, required_count

ROLES = ("visual", "text")
SPACES = ("input", "joint")
COST_LOGITS = ("exp", "linear")


def consistency_cost(scores: Tensor, target: Tensor, temperature: float = 0.1, logits: str = "exp") -> Tensor:
    """``mean(BCE_with_logits(exp(scores / temperature), target))``: the code's ``calculate_cost``.

    ``scores`` are anchor cosines in ``[-1, 1]``, so with ``logits="exp"`` every logit is positive
    (``exp(-10) .. exp(10)``) and the predicted probability is at least 0.5: an entry with target 0 costs at
    least ``log 2`` (reached as its score goes to -1), an entry with target ``t > 0.5`` is pulled to the logit
    ``log(t / (1 - t))``. ``logits="linear"`` uses ``scores / temperature`` as the logit (plain BCE).
    """
    if logits not in COST_LOGITS:
        raise LossError(f"cost logits must be one of {', '.join(COST_LOGITS)}, not {logits!r}")
    z = scores / temperature
    if logits == "exp":
        z = z.exp()
    return F.binary_cross_entropy_with_logits(z, target.to(z.dtype))


def pool_items(x: Tensor, items: Tensor, ids: Tensor) -> Tensor:
    """Rows of ``x`` (observations tagged with ``items``) pooled to one unit row per id in ``ids`` (sorted).

    Each observation is L2-normalised, averaged per item, and renormalised; an item with one observation gets
    it back (normalised). Uses a dense averaging matrix rather than ``index_add`` so the result is
    deterministic on CUDA too (no atomics), which keeps DDP ranks' queues identical.
    """
    x = F.normalize(x, dim=-1)
    uniq, inverse = torch.unique(items, return_inverse=True)
    keep = torch.isin(uniq, ids)
    if uniq.numel() == items.numel():  # one observation per item: a permutation, exact
        pooled = x[torch.argsort(items)]
    else:
        member = (inverse.unsqueeze(0) == torch.arange(uniq.numel(), device=items.device).unsqueeze(1)).to(x.dtype)
        pooled = (member / member.sum(dim=1, keepdim=True)) @ x
    return F.normalize(pooled[keep], dim=-1)


class SSPCLoss(MultifoldLoss):
    """Contrastive base loss + ``beta`` x the SSPC consistency term.

    Args:
        dims: input-space (``raw``) dimension per modality: ``text`` and the visual one (``shape`` or ``image``;
            one visual dimension, used for whichever the batch has).
        embed_dim: joint-space dimension (of ``batch.emb``).
        base: the contrastive loss (``clip``, ``mxm``, ...); its total is the ``contrastive`` part.
        num_anchors: ``K`` per role and space (64 in the paper's config).
        queue_size: features kept per role and space (5,500 in the paper's config; 1024 here, see the README).
        epsilon, iterations, required_fraction: Multi-SK's ``eps`` (0.07), iterations (20) and ``rho`` (0.5).
        beta: weight of the SSPC term (the code's ``beta_loss``).
        cost_temperature: the 0.1 in ``exp(score / 0.1)``; cost_logits: ``exp`` (code) or ``linear``.
        pair_weights: weight per pair name (see ``pair_names``), default 1.0 each; 0 drops a pair.

    Parts: ``contrastive`` (weight 1), ``sspc`` (weight ``beta``; the weighted sum of the pairs, 0 until the
    queues are full), ``sspc/<pair>`` (unweighted), ``contrastive/<part>`` (the base loss's parts) and
    ``queue_fill`` (fraction of the queues filled, 1.0 once the term is on).
    """

    name = SSPC

    def __init__(
        self,
        dims: dict[str, int],
        embed_dim: int,
        base: MultifoldLoss,
        num_anchors: int = 64,
        queue_size: int = 1024,
        epsilon: float = 0.07,
        iterations: int = 20,
        required_fraction: float = 0.5,
        beta: float = 1.0,
        cost_temperature: float = 0.1,
        cost_logits: str = "exp",
        pair_weights: dict[str, float] | None = None,
        denom_eps: float = DENOM_EPS,
    ) -> None:
        super().__init__()
        if "text" not in dims:
            raise LossError("sspc needs the input dimension of 'text' in dims")
        visual_dims = {dims[k] for k in ("shape", "image", "visual") if k in dims}
        if len(visual_dims) != 1:
            raise LossError("sspc needs one input dimension for the visual modality ('shape' or 'image') in dims")
        if not epsilon > 0 or iterations < 1 or not cost_temperature > 0:
            raise LossError("sspc needs epsilon > 0, iterations >= 1 and cost_temperature > 0")
        if cost_logits not in COST_LOGITS:
            raise LossError(f"cost_logits must be one of {', '.join(COST_LOGITS)}, not {cost_logits!r}")
        required_count(num_anchors, required_fraction)  # validates rho * K >= 1

        self.base = base
        self.dims = {"visual": visual_dims.pop(), "text": dims["text"]}
        self.embed_dim = embed_dim
        self.num_anchors = num_anchors
        self.epsilon = epsilon
        self.iterations = iterations
        self.required_fraction = required_fraction
        self.beta = beta
        self.cost_temperature = cost_temperature
        self.cost_logits = cost_logits
        self.denom_eps = denom_eps

        space_dims = {"input": self.dims, "joint": {r: embed_dim for r in ROLES}}
        self.anchors = nn.ModuleDict(
            {f"{sp}_{r}": Anchors(space_dims[sp][r], num_anchors) for sp in SPACES for r in ROLES}
        )
        self.queues = nn.ModuleDict(
            {f"{sp}_{r}": FeatureQueue(queue_size, space_dims[sp][r]) for sp in SPACES for r in ROLES}
        )
        weights = {name: 1.0 for name in self.pair_names()}
        for name, w in (pair_weights or {}).items():
            if name not in weights:
                raise LossError(f"unknown sspc pair {name!r}; pairs are: {', '.join(weights)}")
            weights[name] = float(w)
        self.pair_weights = weights

    @staticmethod
    def pair_names() -> list[str]:
        names = []
        for m in ROLES:  # anchor role
            for s in ROLES:  # role whose features are assigned
                names.append(f"input:{m}<-joint:{s}@{m}")
                names.append(f"joint:{s}@{m}<-input:{m}")
        return names

    def queues_full(self) -> bool:
        return all(q.is_full() for q in self.queues.values())

    def item_features(self, batch: Embeddings) -> dict[str, Tensor]:
        """Unit rows per item (ascending item id) for every ``<space>_<role>``, in the anchors' dtype."""
        visual = batch.visual()
        sources: dict[str, tuple[Tensor, Tensor]] = {"joint_visual": batch.get(visual), "joint_text": batch.get("text")}
        for role, key in (("visual", visual), ("text", "text")):
            if key not in batch.raw and key == "shape" and "image" in batch.raw:
                key = "image"  # pool the views' raw features when the batch has no pooled raw shape
            if key not in batch.raw or key not in batch.items:
                raise LossError(f"sspc needs the input-space features batch.raw[{key!r}] and their item ids")
            sources[f"input_{role}"] = (batch.raw[key], batch.items[key])
        for name, (x, items) in sources.items():
            if x.dim() != 2 or items.dim() != 1 or x.shape[0] != items.shape[0]:
                raise LossError(f"sspc {name}: expected [N, d] and [N], got {tuple(x.shape)}, {tuple(items.shape)}")
            if x.shape[1] != self.anchors[name].dim:
                raise LossError(f"sspc {name}: features of dimension {x.shape[1]}, expected {self.anchors[name].dim}")
        ids = torch.unique(sources["joint_visual"][1])
        for _, items in sources.values():
            ids = ids[torch.isin(ids, items)]
        if ids.numel() == 0:
            raise LossError("sspc found no item with both a visual and a text observation in the batch")
        dtype = next(self.anchors.parameters()).dtype
        return {name: pool_items(x.to(dtype), items, ids) for name, (x, items) in sources.items()}

    def _assign(self, anchors: Anchors, queue: FeatureQueue, x: Tensor) -> Tensor:
        """Multi-SK on ``[queue; batch]`` scored by ``anchors``; the batch's rows, without gradient."""
        with torch.no_grad():
            scores = anchors(torch.cat([queue.contents().to(x.dtype), x.detach()]))
            out = multi_assignment(
                scores,
                self.epsilon,
                self.iterations,
                self.required_fraction,
                denom_eps=self.denom_eps,
            )
        return out[-x.shape[0] :]

    def consistency_terms(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        """The unweighted cost of every pair with a non-zero weight (assumes the queues are full)."""
        active = {n for n, w in self.pair_weights.items() if w != 0}
        terms: dict[str, Tensor] = {}
        input_targets: dict[str, Tensor] = {}
        for m in ROLES:
            for s in ROLES:
                to_input, to_joint = f"input:{m}<-joint:{s}@{m}", f"joint:{s}@{m}<-input:{m}"
                if to_input in active:
                    target = self._assign(self.anchors[f"joint_{m}"], self.queues[f"joint_{s}"], feats[f"joint_{s}"])
                    pred = self.anchors[f"input_{m}"](feats[f"input_{m}"])
                    terms[to_input] = consistency_cost(pred, target, self.cost_temperature, self.cost_logits)
                if to_joint in active:
                    if m not in input_targets:
                        input_targets[m] = self._assign(
                            self.anchors[f"input_{m}"], self.queues[f"input_{m}"], feats[f"input_{m}"]
                        )
                    pred = self.anchors[f"joint_{m}"](feats[f"joint_{s}"])
                    terms[to_joint] = consistency_cost(pred, input_targets[m], self.cost_temperature, self.cost_logits)
        return terms

    def forward(self, batch: Embeddings, logit_scale: Tensor) -> LossOutput:
        base_out = self.base(batch, logit_scale)
        feats = self.item_features(batch)
        device = feats["joint_text"].device
        zero = torch.zeros((), dtype=feats["joint_text"].dtype, device=device)
        fill = min(int(q.filled) / q.size for q in self.queues.values())  # 1.0 <=> the term is on this step
        # The solver and the costs run in the features' float32/float64, never under autocast.
        autocast_off = torch.autocast(device.type, enabled=False) if device.type in ("cpu", "cuda") else nullcontext()
        with autocast_off:
            terms = self.consistency_terms(feats) if fill >= 1.0 else {}
        sspc = sum((self.pair_weights[n] * t for n, t in terms.items()), zero)
        if self.training:  # after solving: this batch is not part of its own queue
            for name, queue in self.queues.items():
                queue.push(feats[name])

        total = base_out.total + self.beta * sspc.to(base_out.total.dtype)
        parts = {"contrastive": base_out.total, "sspc": sspc}
        parts.update({f"sspc/{n}": terms.get(n, zero) for n in self.pair_names()})
        parts.update({f"contrastive/{k}": v for k, v in base_out.parts.items()})
        parts["queue_fill"] = torch.tensor(fill, device=device)
        return LossOutput(total=total, parts=parts, weights={"contrastive": 1.0, "sspc": self.beta})

    def extra_repr(self) -> str:
        return (
            f"dims={self.dims}, embed_dim={self.embed_dim}, num_anchors={self.num_anchors}, "
            f"queue_size={self.queues['input_text'].size}, epsilon={self.epsilon}, iterations={self.iterations}, "
            f"required_fraction={self.required_fraction}, beta={self.beta}"
        )
