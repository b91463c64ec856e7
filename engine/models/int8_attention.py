"""Self-attention with dynamic int8 projections, in place of open_clip's ``nn.MultiheadAttention`` on the fast CPU
inference path (:mod:`engine.models.inference`): torch's ``quantize_dynamic`` cannot reach the attention's input
projection (a bare parameter) nor its output projection (``NonDynamicallyQuantizableLinear``), a third of a
transformer block's Linear work."""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def quantize_linears(module: nn.Module) -> nn.Module:
    """``module``'s Linear children (at any depth) as dynamic int8 Linear layers, in place. torch warns that
    ``torch.ao.quantization`` is deprecated (for torchao, not installed here): that warning is not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
        # per output channel: the weights' scale per row (closer ranks than one scale per tensor, as fast)
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        originals = [m for m in module.modules() if isinstance(m, nn.Linear)]
        quantized = torch.ao.quantization.quantize_dynamic(module, {nn.Linear: qconfig}, inplace=True)
    for m in originals:  # torch leaves each replaced Linear a qconfig whose closure holds it: a reference cycle that
        m.__dict__.pop("qconfig", None)  # would keep its fp32 weights until a garbage collection
    return quantized


class Int8SelfAttention(nn.Module):
    """``nn.MultiheadAttention`` (self-attention, batch first, no extra biases) with its input and output
    projections as dynamic int8 Linear layers and the attention itself by ``scaled_dot_product_attention``;
    called as open_clip's blocks call the module it replaces."""

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
        self.proj = quantize_linears(nn.ModuleDict({"in_proj": in_proj, "out_proj": out_proj}))

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
