"""The losses' names and one line on each, without importing torch: the one list the config schema's choices,
the ``trainer train`` help, the registry (:mod:`engine.losses.registry`) and the app's form read.

To add a loss: its name here (and its line), its module, and its entry in the registry.
"""

from __future__ import annotations

CLIP, MXM, GCL, SSPC = "clip", "mxm", "gcl", "sspc"
LOSS_NAMES: tuple[str, ...] = (CLIP, MXM, GCL, SSPC)

#: What each loss does, in a line (the app's loss choices show it).
LOSS_SUMMARIES: dict[str, str] = {
    CLIP: "CLIP: one view and one caption per item (InfoNCE)",
    MXM: "MXM-CLR: every view against every caption of a batch (multifold)",
    GCL: "GCL: adds fused view+caption embeddings as keys",
    SSPC: "SSPC: semi-supervised prototypes with the Multi-SK solver",
}


def loss_list(joiner: str = "or") -> str:
    """``clip, mxm, gcl or sspc``."""
    return f"{', '.join(LOSS_NAMES[:-1])} {joiner} {LOSS_NAMES[-1]}"
