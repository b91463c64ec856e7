"""SSPC: queue warm-up, gradients, the consistency cost, the feature queue, checkpoints, order invariance."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from torch.func import functional_call
from torch.nn import functional as F

from engine.losses.anchors import Anchors
from engine.losses.base import Embeddings, LossError, LossOutput, MultifoldLoss
from engine.losses.queue import FeatureQueue
from engine.losses.sinkhorn import multi_assignment
from engine.losses.sspc import SSPCLoss, consistency_cost, pool_items

DV, DT, D, K = 12, 10, 8, 8  # raw visual dim, raw text dim, joint dim, anchors


class StubBase(MultifoldLoss):
    """A contrastive stand-in that depends on the embeddings and the scale but not on their order."""

    name = "stub"

    def forward(self, batch: Embeddings, logit_scale: torch.Tensor) -> LossOutput:
        v, _ = batch.get(batch.visual())
        t, _ = batch.get("text")
        total = logit_scale * (v.mean() - t.mean()) ** 2 + 1.0
        return LossOutput(total=total, parts={"stub": total}, weights={"stub": 1.0})


def make_loss(queue_size: int = 48, seed: int = 0, **kw) -> SSPCLoss:
    torch.manual_seed(seed)
    return SSPCLoss({"shape": DV, "text": DT}, D, StubBase(), num_anchors=K, queue_size=queue_size, **kw)


def make_batch(step: int, b: int = 16, captions: int = 2, views: int = 3, grad: bool = False) -> Embeddings:
    g = torch.Generator().manual_seed(1000 + step)
    ids = torch.arange(b) * 7 + 100 + step * 1000  # arbitrary, non-contiguous global ids

    def t(*shape):
        return torch.randn(*shape, generator=g).requires_grad_(grad)

    emb = {
        "shape": F.normalize(t(b, D), dim=1),
        "image": F.normalize(t(b * views, D), dim=1),
        "text": F.normalize(t(b * captions, D), dim=1),
    }
    raw = {"shape": t(b, DV), "image": t(b * views, DV), "text": t(b * captions, DT)}
    items = {"shape": ids, "image": ids.repeat_interleave(views), "text": ids.repeat_interleave(captions)}
    return Embeddings(emb=emb, items=items, raw=raw)


def leaves(batch: Embeddings) -> dict[str, torch.Tensor]:
    return {f"emb.{k}": v for k, v in batch.emb.items()} | {f"raw.{k}": v for k, v in batch.raw.items()}


def make_leaf_batch(step: int, **kw) -> Embeddings:
    """A batch whose emb/raw tensors are leaves with requires_grad (for gradient checks)."""
    batch = make_batch(step, **kw)
    for d in (batch.emb, batch.raw):
        for k in d:
            d[k] = d[k].detach().requires_grad_(True)
    return batch


SCALE = torch.tensor(20.0)


def value(t: torch.Tensor) -> float:
    return float(t.detach())


def test_term_is_zero_until_queue_full_then_positive_and_differentiable():
    loss = make_loss(queue_size=48)  # 3 batches of 16 items fill it
    for step in range(3):
        out = loss(make_batch(step), SCALE)
        assert value(out.parts["sspc"]) == 0.0
        assert all(value(out.parts[f"sspc/{n}"]) == 0.0 for n in loss.pair_names())
        assert value(out.parts["queue_fill"]) == pytest.approx(step / 3)
        torch.testing.assert_close(out.total, out.parts["contrastive"])
    assert loss.queues_full()

    batch = make_leaf_batch(3)
    out = loss(batch, SCALE)
    assert value(out.parts["queue_fill"]) == 1.0
    values = out.detached()
    pair_values = [values[f"sspc/{n}"] for n in loss.pair_names()]
    assert len(pair_values) == 8 and min(pair_values) > 0
    assert values["sspc"] == pytest.approx(sum(pair_values), rel=1e-6)
    torch.testing.assert_close(out.total, out.parts["contrastive"] + loss.beta * out.parts["sspc"])
    torch.testing.assert_close(out.weighted_sum(), out.total)

    loss.zero_grad()
    out.parts["sspc"].backward()
    for name, anchors in loss.anchors.items():
        grad = anchors.linear.weight.grad
        assert grad is not None and grad.abs().sum() > 0, name
    used = ["emb.shape", "emb.text", "raw.shape", "raw.text"]
    for name in used:
        grad = leaves(batch)[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert batch.emb["image"].grad is None  # the views are not used when the batch has pooled shapes


def test_pair_terms_match_a_manual_computation():
    """Each pair's target comes from the *other* space's anchors of the anchor role ``m``, solved on that space's
    queue of the sample role ``s`` as it was *before* this batch is pushed, and keeps the batch's rows."""
    loss = make_loss(queue_size=32)
    for step in range(2):
        loss(make_batch(step), SCALE)
    before = copy.deepcopy(loss)
    batch = make_batch(2)
    out = loss(batch, SCALE)
    feats = before.item_features(batch)
    a, q, n = before.anchors, before.queues, feats["joint_text"].shape[0]

    def target(space: str, m: str, s: str) -> torch.Tensor:
        rows = torch.cat([q[f"{space}_{s}"].contents(), feats[f"{space}_{s}"]])
        return multi_assignment(a[f"{space}_{m}"](rows), 0.07, 20, 0.5)[-n:]

    for m in ("visual", "text"):
        for s in ("visual", "text"):
            to_input = consistency_cost(a[f"input_{m}"](feats[f"input_{m}"]), target("joint", m, s))
            to_joint = consistency_cost(a[f"joint_{m}"](feats[f"joint_{s}"]), target("input", m, m))
            torch.testing.assert_close(out.parts[f"sspc/input:{m}<-joint:{s}@{m}"], to_input)
            torch.testing.assert_close(out.parts[f"sspc/joint:{s}@{m}<-input:{m}"], to_joint)


def test_beta_scales_the_term():
    a, b = make_loss(beta=1.0), make_loss(beta=0.25)
    for step in range(4):
        oa, ob = a(make_batch(step), SCALE), b(make_batch(step), SCALE)
    torch.testing.assert_close(ob.parts["sspc"], oa.parts["sspc"])
    torch.testing.assert_close(ob.total - ob.parts["contrastive"], 0.25 * oa.parts["sspc"])


@pytest.mark.parametrize("logits", ["exp", "linear"])
def test_gradcheck_consistency_cost_with_fixed_targets(logits):
    torch.manual_seed(0)
    anchors = Anchors(6, 5).double()
    x = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    w = anchors.linear.weight.detach().clone().requires_grad_(True)
    with torch.no_grad():
        target = multi_assignment(anchors(x), 0.5, 20, 0.4)  # fixed, from Multi-SK

    def cost(x, w):
        scores = functional_call(anchors, {"linear.weight": w}, (x,))
        return consistency_cost(scores, target, temperature=0.5, logits=logits)

    assert torch.autograd.gradcheck(cost, (x, w))


def test_consistency_cost_values():
    """The code's exp logits are positive: a target-0 entry costs log 2 at best; a target-1 entry tends to 0."""
    low = consistency_cost(torch.full((2, 3), -1.0, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64))
    assert float(low) == pytest.approx(math.log1p(math.exp(math.exp(-10))), rel=1e-12)
    assert float(low) > math.log(2)
    high = consistency_cost(torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64))
    assert float(high) < 1e-9
    lin = consistency_cost(torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]), logits="linear")
    assert float(lin) == pytest.approx(math.log(2))


def test_queue_wrap_around():
    q = FeatureQueue(5, 2)
    rows = torch.arange(24, dtype=torch.float32).view(12, 2)
    q.push(rows[:3])
    assert not q.is_full() and int(q.ptr) == 3 and int(q.filled) == 3
    torch.testing.assert_close(q.contents(), rows[:3])
    q.push(rows[3:6])  # wraps: row 5 goes to slot 0
    assert q.is_full() and int(q.ptr) == 1 and int(q.filled) == 5
    torch.testing.assert_close(q.features[0], rows[5])
    torch.testing.assert_close(q.contents(), rows[1:6])  # oldest first
    q.push(rows[6:10])
    assert int(q.ptr) == 0
    torch.testing.assert_close(q.contents(), rows[5:10])
    q.push(rows[:7].double())  # larger than the queue: its last 5 rows, cast to float32
    assert q.features.dtype == torch.float32
    torch.testing.assert_close(q.contents(), rows[2:7])
    with pytest.raises(LossError):
        q.push(torch.zeros(2, 3))


def test_state_dict_round_trip_restores_queue_and_next_step():
    loss = make_loss(queue_size=40, seed=0)  # 16 items a step: the queue wraps around mid-batch
    for step in range(4):
        loss(make_batch(step), SCALE)
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    assert {"queues.input_visual.features", "queues.joint_text.ptr", "queues.input_text.filled"} <= set(
        loss.state_dict()
    )

    resumed = make_loss(queue_size=40, seed=123)
    assert not torch.equal(resumed.anchors["input_text"].linear.weight, loss.anchors["input_text"].linear.weight)
    assert not resumed.queues_full()
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer))
    for name, q in loss.queues.items():
        assert torch.equal(resumed.queues[name].features, q.features)
        assert int(resumed.queues[name].ptr) == int(q.ptr) == 24 and int(resumed.queues[name].filled) == 40

    nxt = make_batch(4)
    a, b = loss(nxt, SCALE), resumed(nxt, SCALE)
    assert value(a.parts["sspc"]) > 0
    assert torch.equal(a.total, b.total)
    for name, q in loss.queues.items():
        assert torch.equal(resumed.queues[name].features, q.features)


def permuted(batch: Embeddings, seed: int) -> Embeddings:
    """The same observations, every modality's rows shuffled independently."""
    g = torch.Generator().manual_seed(seed)
    emb, raw, items = {}, {}, {}
    for k, v in batch.emb.items():
        p = torch.randperm(v.shape[0], generator=g)
        emb[k], raw[k], items[k] = v[p], batch.raw[k][p], batch.items[k][p]
    return Embeddings(emb=emb, items=items, raw=raw)


def test_loss_does_not_depend_on_batch_order_once_queue_is_full():
    loss = make_loss(queue_size=32)
    for step in range(2):
        loss(make_batch(step, captions=3), SCALE)
    assert loss.queues_full()
    batch = make_batch(2, captions=3)
    first, second = copy.deepcopy(loss), copy.deepcopy(loss)
    a = first(batch, SCALE)
    b = second(permuted(batch, seed=1), SCALE)
    assert value(a.parts["sspc"]) > 0
    # Equal by construction up to float32 rounding (pooling and solver sums run in another order).
    torch.testing.assert_close(b.total, a.total, atol=1e-5, rtol=1e-6)
    for n in loss.pair_names():
        torch.testing.assert_close(b.parts[f"sspc/{n}"], a.parts[f"sspc/{n}"], atol=1e-5, rtol=1e-6)
    for name, q in first.queues.items():  # the queue update is order-independent too
        torch.testing.assert_close(second.queues[name].features, q.features, atol=1e-6, rtol=1e-5)


def test_captions_are_pooled_to_one_row_per_item():
    loss = make_loss(queue_size=64)
    batch = make_batch(0, b=16, captions=5)
    feats = loss.item_features(batch)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "joint_visual": (16, D),
        "joint_text": (16, D),
        "input_visual": (16, DV),
        "input_text": (16, DT),
    }
    expected = F.normalize(F.normalize(batch.emb["text"], dim=1).view(16, 5, D).mean(dim=1), dim=1)
    torch.testing.assert_close(feats["joint_text"], expected)
    loss(batch, SCALE)
    assert all(int(q.filled) == 16 for q in loss.queues.values())


def test_pool_items_orders_by_id_and_keeps_common_items():
    x = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 5.0]])
    items = torch.tensor([9, 4, 9, 7])
    out = pool_items(x, items, torch.tensor([4, 9]))  # item 7 has no partner in the other modality
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_raw_views_are_pooled_when_the_batch_has_no_raw_shape():
    loss = make_loss()
    batch = make_batch(0, views=4)
    del batch.raw["shape"]
    feats = loss.item_features(batch)
    expected = F.normalize(F.normalize(batch.raw["image"], dim=1).view(16, 4, DV).mean(dim=1), dim=1)
    torch.testing.assert_close(feats["input_visual"], expected)


def test_eval_mode_does_not_touch_the_queue():
    loss = make_loss(queue_size=32)
    loss.eval()
    loss(make_batch(0), SCALE)
    assert all(int(q.filled) == 0 for q in loss.queues.values())


def test_zero_pair_weight_drops_the_pair():
    name = "joint:text@visual<-input:visual"
    loss = make_loss(queue_size=16, pair_weights={name: 0.0})
    loss(make_batch(0), SCALE)
    out = loss(make_batch(1), SCALE)
    assert value(out.parts[f"sspc/{name}"]) == 0.0
    others = [value(out.parts[f"sspc/{n}"]) for n in loss.pair_names() if n != name]
    assert value(out.parts["sspc"]) == pytest.approx(sum(others), rel=1e-6)


def test_configuration_errors():
    with pytest.raises(LossError):
        SSPCLoss({"text": DT}, D, StubBase())
    with pytest.raises(LossError):
        SSPCLoss({"shape": DV, "image": DV + 1, "text": DT}, D, StubBase())
    with pytest.raises(LossError):
        SSPCLoss({"shape": DV, "text": DT}, D, StubBase(), num_anchors=4, required_fraction=0.1)
    with pytest.raises(LossError):
        make_loss(pair_weights={"nope": 1.0})
    loss = make_loss()
    batch = make_batch(0)
    batch.raw["text"] = torch.randn(32, DT + 1)
    with pytest.raises(LossError, match="input_text: features of dimension 11"):
        loss(batch, SCALE)
    del batch.raw["text"]
    with pytest.raises(LossError, match="raw"):
        loss(batch, SCALE)
