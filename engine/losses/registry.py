"""The losses by name: ``build_loss("mxm", soft_weight=0.3)`` -> an ``MXMLoss``.

``sspc`` wraps another loss: ``build_loss("sspc", dims={"image": 512, "text": 512}, embed_dim=256, base="mxm",
base_options={...}, num_anchors=64)``; its module is imported only when an SSPC loss is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .base import LossError, MultifoldLoss
from .clip import ClipLoss
from .gcl import GCLLoss
from .mxm import MXMLoss
from .names import CLIP, GCL, LOSS_NAMES, MXM, SSPC


def _sspc(base: str | MultifoldLoss = CLIP, base_options: Mapping[str, Any] | None = None,
          **options: Any) -> MultifoldLoss:
    """SSPC around a base loss (a name built with ``base_options``, or a loss object)."""
    from .sspc import SSPCLoss  # lazily: the module is optional for every other loss

    if isinstance(base, str):
        if base == SSPC:
            raise LossError("sspc cannot wrap another sspc loss")
        base = build_loss(base, **dict(base_options or {}))
    elif base_options:
        raise LossError("sspc: base_options only apply when base is given by name")
    return SSPCLoss(base=base, **options)


#: Every name of :data:`~engine.losses.names.LOSS_NAMES`, in its order, with what builds it.
LOSSES: dict[str, Callable[..., MultifoldLoss]] = {CLIP: ClipLoss, MXM: MXMLoss, GCL: GCLLoss, SSPC: _sspc}
if tuple(LOSSES) != LOSS_NAMES:  # a name added in names.py without its builder here, or the other way round
    raise ImportError(f"engine.losses: the registry {tuple(LOSSES)} does not match LOSS_NAMES {LOSS_NAMES}")


def build_loss(name: str, **options: Any) -> MultifoldLoss:
    """The loss registered under ``name``, constructed with ``options``; ``LossError`` for an unknown name/option."""
    key = name.strip().lower()
    if key not in LOSSES:
        raise LossError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    try:
        return LOSSES[key](**options)
    except TypeError as exc:  # an option the constructor does not take
        raise LossError(f"loss {key!r}: {exc}") from exc
