"""The objectives behind one interface (``MultifoldLoss``) and a registry to build them by name.

``build_loss("mxm", soft_weight=0.3)`` -> an ``MXMLoss``. ``sspc`` wraps another loss: ``build_loss("sspc",
dims={"image": 512, "text": 512}, embed_dim=256, base="mxm", base_options={...}, num_anchors=64)``; its module
is imported only when an SSPC loss is built.

The loss names (:data:`LOSS_NAMES`, from :mod:`engine.losses.names`) come without torch: importing this package
or ``engine.losses.names`` does not import it. The other names below are loaded lazily (PEP 562), on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.losses.names import LOSS_NAMES, LOSS_SUMMARIES

if TYPE_CHECKING:
    from engine.losses.base import Embeddings, LossError, LossOutput, MultifoldLoss, first_per_item, positive_mask
    from engine.losses.clip import ClipLoss
    from engine.losses.gcl import GCLLoss
    from engine.losses.mxm import MXMLoss
    from engine.losses.registry import LOSSES, build_loss

# name -> the submodule that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "Embeddings": "base",
    "LossError": "base",
    "LossOutput": "base",
    "MultifoldLoss": "base",
    "first_per_item": "base",
    "positive_mask": "base",
    "ClipLoss": "clip",
    "GCLLoss": "gcl",
    "MXMLoss": "mxm",
    "LOSSES": "registry",
    "build_loss": "registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "LOSSES",
    "LOSS_NAMES",
    "LOSS_SUMMARIES",
    "ClipLoss",
    "Embeddings",
    "GCLLoss",
    "LossError",
    "LossOutput",
    "MXMLoss",
    "MultifoldLoss",
    "build_loss",
    "first_per_item",
    "positive_mask",
]
