"""Properties every loss must have: order invariance, symmetry, gradients, dtypes, the registry."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable

import pytest
import torch
from torch.nn import functional as F

from engine.losses import LOSSES, ClipLoss, Embeddings, GCLLoss, LossError, MultifoldLoss, MXMLoss, build_loss
from engine.losses.base import first_per_item, pool_per_item

LOSS_CASES: dict[str, Callable[[], MultifoldLoss]] = {
    "clip": ClipLoss,
    "mxm": lambda: MXMLoss(soft_weight=0.4),
    "mxm_fixed_sigma": lambda: MXMLoss(soft_weight=0.7, soft_scale=5.0),
    "gcl_union": GCLLoss,
    "gcl_pair": lambda: GCLLoss(softmax="pair", weights={"image_text": 2.0, "fused_text": 0.5}),
}
ORDER_FREE = [name for name in LOSS_CASES if name != "clip"]  # clip keeps the first observation of each item

ITEMS = [21, 5, 13, 8]
VIEWS = [2, 1, 3, 2]
CAPTIONS = [3, 1, 2, 2]


def unit(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)


def multifold(dtype: torch.dtype = torch.float64, with_shape: bool = False) -> Embeddings:
    """Four items with 1-3 views and 1-3 captions each, observations grouped by item."""
    image_items = torch.tensor([i for i, n in zip(ITEMS, VIEWS, strict=True) for _ in range(n)])
    text_items = torch.tensor([i for i, n in zip(ITEMS, CAPTIONS, strict=True) for _ in range(n)])
    emb = {
        "image": unit(len(image_items), 6, seed=1, dtype=dtype),
        "text": unit(len(text_items), 6, seed=2, dtype=dtype),
    }
    items = {"image": image_items, "text": text_items}
    if with_shape:
        emb["shape"], items["shape"] = unit(len(ITEMS), 6, seed=3, dtype=dtype), torch.tensor(ITEMS)
    return Embeddings(emb, items)


def reorder(batch: Embeddings, order: dict[str, torch.Tensor]) -> Embeddings:
    return Embeddings({k: v[order[k]] for k, v in batch.emb.items()}, {k: v[order[k]] for k, v in batch.items.items()})


def permute_items(batch: Embeddings, seed: int) -> Embeddings:
    """Items in another order; each item's observations keep their relative order."""
    perm = torch.randperm(len(ITEMS), generator=torch.Generator().manual_seed(seed))
    new_order = [ITEMS[i] for i in perm]
    order = {}
    for k, ids in batch.items.items():
        order[k] = torch.cat([torch.nonzero(ids == i).flatten() for i in new_order])
    return reorder(batch, order)


def shuffle_observations(batch: Embeddings, seed: int, keep_within_item: bool) -> Embeddings:
    """Rows of every modality in random order (optionally keeping each item's observations in order)."""
    g = torch.Generator().manual_seed(seed)
    order = {}
    for k, ids in batch.items.items():
        perm = torch.randperm(len(ids), generator=g)
        if keep_within_item:
            shuffled = ids[perm]
            for i in ids.unique():
                perm[shuffled == i] = torch.nonzero(ids == i).flatten()
        order[k] = perm
    return reorder(batch, order)


def relabel(batch: Embeddings, mapping: dict[int, int]) -> Embeddings:
    items = {k: torch.tensor([mapping[int(i)] for i in v]) for k, v in batch.items.items()}
    return Embeddings(batch.emb, items)


SCALE = torch.tensor(9.0, dtype=torch.float64)


@pytest.mark.parametrize("with_shape", [False, True])
@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_permuting_items_leaves_the_loss_unchanged(name: str, with_shape: bool) -> None:
    loss, batch = LOSS_CASES[name](), multifold(with_shape=with_shape)
    reference = loss(batch, SCALE)
    for seed in range(3):
        out = loss(permute_items(batch, seed), SCALE)
        torch.testing.assert_close(out.total, reference.total, rtol=1e-10, atol=1e-12)
        for k in reference.parts:
            torch.testing.assert_close(out.parts[k], reference.parts[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ORDER_FREE)
def test_order_free_losses_ignore_the_order_of_observations(name: str) -> None:
    loss, batch = LOSS_CASES[name](), multifold(with_shape=True)
    reference = loss(batch, SCALE).total
    for seed in range(3):
        out = loss(shuffle_observations(batch, seed, keep_within_item=False), SCALE).total
        torch.testing.assert_close(out, reference, rtol=1e-10, atol=1e-12)


def test_clip_ignores_interleaving_but_keeps_the_first_observation_of_an_item() -> None:
    batch = multifold()
    reference = ClipLoss()(batch, SCALE).total
    interleaved = shuffle_observations(batch, seed=4, keep_within_item=True)
    torch.testing.assert_close(ClipLoss()(interleaved, SCALE).total, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_item_ids_are_only_compared(name: str) -> None:
    loss, batch = LOSS_CASES[name](), multifold(with_shape=True)
    mapping = {21: -4, 5: 10**12, 13: 0, 8: 7}  # negative, huge, reordered
    torch.testing.assert_close(loss(relabel(batch, mapping), SCALE).total, loss(batch, SCALE).total,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_parts_weighted_sum_is_the_total(name: str) -> None:
    out = LOSS_CASES[name]()(multifold(with_shape=True), SCALE)
    assert out.weights and set(out.weights) <= set(out.parts)
    assert sum(out.weights.values()) == pytest.approx(1.0)
    torch.testing.assert_close(out.weighted_sum(), out.total, rtol=1e-10, atol=1e-12)
    assert set(out.detached()) == {"loss", *out.parts}


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_gradients_reach_logit_scale_and_embeddings(name: str) -> None:
    batch = multifold(dtype=torch.float32)
    raw = {k: v.clone().requires_grad_() for k, v in batch.emb.items()}
    log_scale = torch.tensor(2.3, requires_grad=True)
    out = LOSS_CASES[name]()(
        Embeddings({k: F.normalize(v, dim=-1) for k, v in raw.items()}, batch.items), log_scale.exp()
    )
    out.total.backward()
    assert log_scale.grad is not None and torch.isfinite(log_scale.grad) and log_scale.grad.abs() > 0
    for k in ("image", "text"):
        assert raw[k].grad is not None and torch.isfinite(raw[k].grad).all() and raw[k].grad.abs().sum() > 0


DIFFERENTIABLE_CASES: dict[str, Callable[[], MultifoldLoss]] = {
    "clip": ClipLoss,
    "mxm_hard": lambda: MXMLoss(soft_weight=0.0),
    # constant soft targets; the default soft targets are stop-gradient (by design, like distillation targets),
    # and their gradient is checked in test_mxm against the "sum inside the log" form it equals
    "mxm_uniform_soft": lambda: MXMLoss(soft_weight=0.5, soft_scale=0.0),
    "gcl_union": GCLLoss,
    "gcl_pair": LOSS_CASES["gcl_pair"],
    "gcl_coupled": lambda: GCLLoss(decouple_fused=False),
}


@pytest.mark.parametrize("name", list(DIFFERENTIABLE_CASES))
def test_gradcheck_float64(name: str) -> None:
    loss = DIFFERENTIABLE_CASES[name]()
    image_items, text_items = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2])
    image = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True)
    text = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6), requires_grad=True)
    log_scale = torch.tensor(1.2, dtype=torch.float64, requires_grad=True)

    def f(a: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        batch = Embeddings(
            {"image": F.normalize(a, dim=-1), "text": F.normalize(t, dim=-1)},
            {"image": image_items, "text": text_items},
        )
        return loss(batch, s.exp()).total

    assert torch.autograd.gradcheck(f, (image, text, log_scale))


def test_no_nan_when_an_item_misses_a_modality_or_has_one_observation() -> None:
    # item 9 has a view but no caption; item 4 has one view and one caption; item 1 has several of each
    batch = Embeddings(
        {"image": unit(5, 6, seed=7), "text": unit(4, 6, seed=8)},
        {"image": torch.tensor([1, 1, 1, 4, 9]), "text": torch.tensor([1, 4, 1, 1])},
    )
    for name, make in LOSS_CASES.items():
        image = batch.emb["image"].clone().requires_grad_()
        out = make()(Embeddings({"image": image, "text": batch.emb["text"]}, batch.items), SCALE)
        out.total.backward()
        assert torch.isfinite(out.total), name
        assert all(torch.isfinite(v) for v in out.parts.values()), name
        assert torch.isfinite(image.grad).all(), name
    # mxm also takes captions without views (text-only item 6)
    extra = Embeddings(batch.emb | {"text": unit(5, 6, seed=9)}, batch.items | {"text": torch.tensor([1, 4, 1, 1, 6])})
    assert torch.isfinite(MXMLoss()(extra, SCALE).total)


@pytest.mark.parametrize("name", ["clip", "mxm", "mxm_fixed_sigma"])
def test_swapping_the_two_modalities_leaves_symmetric_losses_unchanged(name: str) -> None:
    batch = multifold()
    swapped = Embeddings(
        {"image": batch.emb["text"], "text": batch.emb["image"]},
        {"image": batch.items["text"], "text": batch.items["image"]},
    )
    loss = LOSS_CASES[name]()
    torch.testing.assert_close(loss(swapped, SCALE).total, loss(batch, SCALE).total, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("softmax", ["union", "pair"])
def test_swapping_image_and_text_permutes_the_gcl_terms(softmax: str) -> None:
    ids = torch.tensor([3, 1, 2])
    a, t = unit(3, 6, seed=10), unit(3, 6, seed=11)
    loss = GCLLoss(softmax=softmax)
    out = loss(Embeddings({"image": a, "text": t}, {"image": ids, "text": ids}), SCALE)
    swapped = loss(Embeddings({"image": t, "text": a}, {"image": ids, "text": ids}), SCALE)
    mapping = {"image_text": "text_image", "image_fused": "text_fused", "fused_image": "fused_text"}
    mapping |= {v: k for k, v in mapping.items()}
    for k, v in mapping.items():
        torch.testing.assert_close(swapped.parts[k], out.parts[v], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(swapped.total, out.total, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_half_precision_inputs_are_computed_in_float32(name: str, dtype: torch.dtype) -> None:
    batch = multifold(dtype=dtype, with_shape=True)
    out = LOSS_CASES[name]()(batch, torch.tensor(100.0, dtype=dtype))  # the clamp maximum: logits up to +-100
    assert out.total.dtype == torch.float32 and torch.isfinite(out.total)
    as_float = Embeddings({k: v.float() for k, v in batch.emb.items()}, batch.items)
    torch.testing.assert_close(out.total, LOSS_CASES[name]()(as_float, torch.tensor(100.0)).total)


def test_float64_stays_float64() -> None:
    for make in LOSS_CASES.values():
        assert make()(multifold(), SCALE).total.dtype == torch.float64


def test_first_per_item_and_pool_per_item() -> None:
    items = torch.tensor([10**15, -3, 10**15, 7, -3, 7, 2])
    assert first_per_item(items).tolist() == [0, 1, 3, 6]
    assert first_per_item(torch.tensor([], dtype=torch.long)).tolist() == []
    emb = unit(7, 4, seed=12)
    pooled, ids = pool_per_item(emb, items)
    assert ids.tolist() == [-3, 2, 7, 10**15]
    torch.testing.assert_close(pooled[0], F.normalize(emb[1] + emb[4], dim=0))
    torch.testing.assert_close(pooled[1], emb[6])
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    pooled_perm, ids_perm = pool_per_item(emb[perm], items[perm])
    assert ids_perm.tolist() == ids.tolist()
    torch.testing.assert_close(pooled_perm, pooled)


def test_registry_builds_every_loss_by_name() -> None:
    assert set(LOSSES) == {"clip", "mxm", "gcl", "sspc"}
    assert isinstance(build_loss("clip"), ClipLoss)
    mxm = build_loss("MXM", soft_weight=0.2, soft_scale=3.0)
    assert isinstance(mxm, MXMLoss) and mxm.soft_weight == 0.2 and mxm.soft_scale == 3.0
    gcl = build_loss("gcl", softmax="pair", weights={"fused_text": 0.0})
    assert isinstance(gcl, GCLLoss) and gcl.softmax == "pair" and gcl.weights["fused_text"] == 0.0
    with pytest.raises(LossError, match="unknown loss"):
        build_loss("triplet")
    with pytest.raises(LossError, match="mxm"):
        build_loss("mxm", temperature=0.07)


def test_registry_imports_the_wrapping_module_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import sys, engine.losses; assert 'engine.losses.sspc' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[3]))

    built = {}

    class Wrapper(MultifoldLoss):
        def __init__(self, base: MultifoldLoss, **options: object) -> None:
            super().__init__()
            built.update(base=base, **options)

    fake = types.ModuleType("engine.losses.sspc")
    fake.SSPCLoss = Wrapper
    monkeypatch.setitem(sys.modules, "engine.losses.sspc", fake)
    wrapper = build_loss("sspc", dims={"image": 8, "text": 8}, embed_dim=4, base="mxm", base_options={"soft_weight": 0})
    assert isinstance(wrapper, Wrapper)
    assert isinstance(built["base"], MXMLoss) and built["base"].soft_weight == 0.0
    assert built["dims"] == {"image": 8, "text": 8} and built["embed_dim"] == 4
    given = ClipLoss()
    build_loss("sspc", dims={}, embed_dim=4, base=given)
    assert built["base"] is given
    with pytest.raises(LossError):
        build_loss("sspc", dims={}, embed_dim=4, base="sspc")
