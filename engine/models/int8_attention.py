"""Dynamic int8 Linear layers for the fast CPU inference path (:mod:`engine.models.inference`), and self-attention
with an int8 output projection in place of open_clip's ``nn.MultiheadAttention``: torch's ``quantize_dynamic``
cannot reach that projection (``NonDynamicallyQuantizableLinear``)."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.ao.nn.quantized import dynamic as nnqd

CPUINFO = Path("/proc/cpuinfo")


@functools.cache
def full_range_activations() -> bool:
    """Whether the dynamic int8 Linear layers quantize their input to all 8 bits rather than 7. fbgemm (torch's
    x86 engine) halves the activations' range by default (``reduce_range``) because its AVX2/AVX-512 kernels add
    u8 x s8 products in pairs into 16 bits, which 8-bit inputs can overflow; with AVX-512 VNNI it adds them into
    32 bits, where 8 bits cannot. Measured on a demo text tower (60 steps, every projection int8; an AMD EPYC with
    VNNI): 1 - cos to the fp32 caption embeddings, largest of 300, 6.8e-3 with 7 bits, 7.4e-4 with 8. Elsewhere
    (no VNNI, no ``/proc/cpuinfo``, ARM's qnnpack) the default is kept, and the fast path is not the default
    (:func:`engine.models.inference.fast_cpu_unavailable`)."""
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):
        return False
    return "avx512_vnni" in cpu_flags()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as ``/proc/cpuinfo`` lists them (none where it cannot be read: not Linux)."""
    try:
        line = next((line for line in CPUINFO.read_text(errors="replace").splitlines()
                     if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(line.partition(":")[2].split())


class Int8Linear(nnqd.Linear):
    """torch's dynamic int8 Linear layer with its input quantized to 8 bits where the CPU allows it
    (:func:`full_range_activations`)."""

    def forward(self, x: Tensor) -> Tensor:
        packed = self._packed_params._packed_params
        return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=not full_range_activations()).to(x.dtype)


def quantize_linears(module: nn.Module) -> nn.Module:
    """``module``'s Linear children (at any depth) as dynamic int8 Linear layers, in place. torch warns that
    ``torch.ao.quantization`` is deprecated (for torchao, not installed here): that warning is not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
        # per output channel: the weights' scale per row (closer ranks than one scale per tensor, as fast)
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        originals = [m for m in module.modules() if isinstance(m, nn.Linear)]
        quantized = torch.ao.quantization.quantize_dynamic(module, {nn.Linear: qconfig},
                                                           mapping={nn.Linear: Int8Linear}, inplace=True)
    for m in originals:  # torch leaves each replaced Linear a qconfig whose closure holds it: a reference cycle that
        m.__dict__.pop("qconfig", None)  # would keep its fp32 weights until a garbage collection
    return quantized


class Int8SelfAttention(nn.Module):
    """``nn.MultiheadAttention`` (self-attention, batch first, no extra biases) with its output projection as a
    dynamic int8 Linear layer, its input projection fp32 and the attention itself by
    ``scaled_dot_product_attention``; called as open_clip's blocks call the module it replaces.

    The input projection makes the queries and keys whose products the softmax sharpens: int8 there moved ranks
    (the full ``trainer demo`` runs, every split: the fused shape+caption -> caption R@1 by 0.67 point; with it fp32,
    at most 0.2 point on either run) for a third of the speed (ViT-B-32 on 2 cores: images 2.0x fp32 instead of
    2.9x, captions 1.9x instead of 2.4x; the MLP alone 1.8x and 1.7x)."""

    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        d = mha.embed_dim
        self.heads = mha.num_heads
        in_proj = nn.Linear(d, 3 * d, bias=mha.in_proj_bias is not None)
        in_proj.weight.data.copy_(mha.in_proj_weight.data)
        if mha.in_proj_bias is not None:
            in_proj.bias.data.copy_(mha.in_proj_bias.data)
        out_proj = nn.Linear(d, d, bias=mha.out_proj.bias is not None)
        out_proj.load_state_dict(mha.out_proj.state_dict())
        self.proj = nn.ModuleDict({"in_proj": in_proj, "out_proj": quantize_linears(nn.Sequential(out_proj))[0]})

    @staticmethod
    def fits(mha: nn.MultiheadAttention) -> bool:
        """Whether ``mha`` is the plain self-attention this module reproduces."""
        return bool(mha.batch_first and mha._qkv_same_embed_dim and mha.bias_k is None
                    and not mha.add_zero_attn and mha.dropout == 0.0)

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                need_weights: bool = False, attn_mask: Tensor | None = None, **_: Any) -> tuple[Tensor, None]:
        if (key is not None and key is not query) or (value is not None and value is not query):
            raise ValueError("the int8 attention is self-attention only")
        b, n, d = query.shape
        qkv = self.proj["in_proj"](query).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attn_mask)
        return self.proj["out_proj"](out.transpose(1, 2).reshape(b, n, d)), None
