"""Lock (freeze) towers for fine-tuning, with open_clip's names and meaning.

``lock_towers(clip, lock_image=..., ...)`` calls open_clip's ``lock_image_tower(unlocked_groups, freeze_bn_stats)``
and ``lock_text_tower(unlocked_layers, freeze_layer_norm)`` (LiT, https://arxiv.org/abs/2111.07991). A locked
parameter gets ``requires_grad = False``: the trainer's optimizer holds only trainable parameters, so locked ones
get neither gradients nor optimizer state. open_clip's own text transformer always locks its LayerNorms with
the rest (it cannot leave them trainable); ``freeze_layer_norm`` matters for HuggingFace text towers.
"""

from __future__ import annotations

import logging

import torch
from open_clip.hf_model import HFTextEncoder

from engine.errors import CrossfoldError
from engine.models import configs as _configs  # noqa: F401 - registers our configs with open_clip

log = logging.getLogger(__name__)


def lock_towers(
    clip: torch.nn.Module,
    *,
    lock_image: bool = False,
    lock_image_unlocked_groups: int = 0,
    lock_image_freeze_bn_stats: bool = False,
    lock_text: bool = False,
    lock_text_unlocked_layers: int = 0,
    lock_text_freeze_layer_norm: bool = False,
) -> None:
    """Lock what is asked; :class:`CrossfoldError` when the model's tower cannot be locked that way."""
    if lock_image:
        try:
            clip.lock_image_tower(unlocked_groups=lock_image_unlocked_groups,
                                  freeze_bn_stats=lock_image_freeze_bn_stats)
        except AssertionError as exc:  # open_clip's ModifiedResNet: "partial locking not currently supported"
            raise CrossfoldError(f"--lock-image-unlocked-groups {lock_image_unlocked_groups}: {exc or 'not supported'} "
                                 f"for the image tower of this model ({type(clip.visual).__name__})") from None
    if lock_text:
        text = getattr(clip, "text", None)
        freeze_ln = lock_text_freeze_layer_norm if isinstance(text, HFTextEncoder) else True
        if not lock_text_freeze_layer_norm and not freeze_ln:
            log.info("open_clip's text transformer locks its LayerNorms with the rest")
        try:
            clip.lock_text_tower(unlocked_layers=lock_text_unlocked_layers, freeze_layer_norm=freeze_ln)
        except (AssertionError, AttributeError, NotImplementedError) as exc:
            raise CrossfoldError(f"--lock-text: not supported for the text tower of this model ({exc})") from None


def count_parameters(module: torch.nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = trainable = 0
    for p in module.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total
