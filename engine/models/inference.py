"""How a model runs for index builds and queries: the inference path, chosen once, recorded in the index stamp.

* ``exact``: the model as it is (fp32 eager; on a GPU, always this one).
* ``cpu-int8``: on the CPU, the Linear layers of every transformer block's MLP and its attention's output projection
  (through :class:`engine.models.int8_attention.Int8SelfAttention`) as torch's dynamic int8 quantization (one scale
  per output channel; inputs on 8 bits where the CPU has VNNI, else 7, and then it is not the default:
  :func:`fast_cpu_unavailable`); everything else (embeddings, LayerNorm, the
  attention's input projection, convolutions, pooling, projections) fp32. Picked by measurement
  (``bench/cpu_inference.py``, ``bench/README.md``): on a 2-core AMD EPYC (AVX-512 with ``avx512_bf16`` and VNNI,
  no AMX) it encoded ViT-B-32 images 2.0x and captions 1.9x as fast as eager fp32, with the ``trainer demo`` runs'
  R@k within 0.2 point of fp32's; the attention's input projection in int8 too reached 2.9x and 2.4x but moved a
  demo run's R@1 by 0.67 point (the queries and keys it makes go through the softmax); bf16 autocast was slower
  than fp32 on images (no AMX).

An index built on one path holds vectors of that path, so its stamp is the checkpoint's sha256 with the path
appended (:func:`index_stamp`; the exact path's stamp is the bare hash, as every index built before paths existed
has) and a query must encode on the path of the index it searches: a different path is a stale index
(:mod:`engine.index.loading` names the rebuild). Importing this module does not import torch.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from engine.errors import CrossfoldError

if TYPE_CHECKING:
    import torch


class InferencePath(StrEnum):
    EXACT = "exact"
    CPU_INT8 = "cpu-int8"

    @property
    def label(self) -> str:
        return {"exact": "exact (fp32)", "cpu-int8": "fast CPU (int8 Linear layers)"}[self.value]

    @property
    def stamp(self) -> str:
        """The path as an index stamp's suffix: its name and the revision of its layers, so an index built by an
        earlier revision (cpu-int8 before revision 2 also had the attention's input projection in int8, and 7-bit
        inputs everywhere) is stale, and rebuilt, rather than searched with vectors of another arithmetic."""
        return {"exact": "", "cpu-int8": "cpu-int8.2"}[self.value]


#: The path a CPU takes unless ``--exact`` is given.
FAST_CPU = InferencePath.CPU_INT8
#: Index builds on the CPU, either path, encode this many images / captions at a time (on a GPU: 256 / 512, as
#: evaluation does): as fast on a CPU, and a batch's activations an eighth of the memory (``bench/index_build.py``).
CPU_BATCH = {"image": 32, "text": 128}
_SEP = "+"


def choose(device_type: str, exact: bool = False) -> InferencePath:
    """The path for a device (``cpu``, ``cuda``, ``mps``): the fast CPU path on a CPU that runs it as measured
    (:func:`fast_cpu_unavailable`) unless ``exact``; never on a GPU."""
    if exact or device_type != "cpu" or fast_cpu_unavailable() is not None:
        return InferencePath.EXACT
    return FAST_CPU


def fast_cpu_unavailable() -> str | None:
    """Why this CPU takes the exact path by default (None: it takes the fast one). The fast path quantizes its int8
    layers' inputs to 8 bits where the CPU has AVX-512 VNNI; elsewhere torch's x86 kernels need 7, and with 7 bits
    the ``trainer demo`` runs' ranks moved by more than the path's goal (R@1 by 0.6 and 0.8 point, against 0.5:
    ``bench/README.md``), so the fast path is not taken there. An index built on it elsewhere is still searched
    on its path (queries follow the index)."""
    from engine.models.int8_attention import full_range_activations

    if full_range_activations():
        return None
    return "the fast int8 path needs a CPU with AVX-512 VNNI, which this one lacks"


def index_stamp(checkpoint_sha256: str, path: InferencePath) -> str:
    """What an index built from a checkpoint on a path is stamped with: the bare hash on the exact path."""
    return checkpoint_sha256 if path is InferencePath.EXACT else f"{checkpoint_sha256}{_SEP}{path.stamp}"


#: Stamp suffixes of earlier revisions of a path: their indexes follow that path and are stale.
_EARLIER_STAMPS = {"cpu-int8": InferencePath.CPU_INT8}


def split_stamp(stamp: str) -> tuple[str, InferencePath]:
    """``(checkpoint sha256, path)`` of an index stamp (an earlier revision's suffix reads as its path; an unknown
    suffix as part of the hash: another encoder)."""
    sha, sep, suffix = stamp.partition(_SEP)
    by_stamp = {**_EARLIER_STAMPS, **{p.stamp: p for p in InferencePath if p.stamp}}
    if sep and suffix in by_stamp:
        return sha, by_stamp[suffix]
    return stamp, InferencePath.EXACT


def stamp_mismatch(built: str, wanted: str) -> str | None:
    """One line on why an index stamped ``built`` cannot answer an encoder stamped ``wanted`` when only their
    paths (or their path's revisions) differ (None otherwise: another checkpoint, said by the caller)."""
    (sha_b, path_b), (sha_w, path_w) = split_stamp(built), split_stamp(wanted)
    if sha_b != sha_w or built == wanted:
        return None
    if path_b is path_w:
        return f"index was built by an earlier revision of the {path_b.label} inference path"
    return f"index was built on the {path_b.label} inference path, not the {path_w.label} one asked for"


def rebuild_flag(path: InferencePath) -> str:
    """The ``trainer index`` flag that builds on ``path`` (empty for the default CPU path)."""
    return " --exact" if path is InferencePath.EXACT else ""


def prepare_for_inference(model: Any, path: InferencePath, device: torch.device | str) -> Any:
    """``model`` (a :class:`engine.models.encoder.CrossfoldEncoder`, in eval mode) made ready for ``path``.

    The fast CPU path changes the open_clip model in place (its transformer blocks' Linear layers become dynamic
    int8 ones); it is refused on any device but the CPU. Returns ``model``."""
    import torch

    if path is InferencePath.EXACT:
        return model
    if torch.device(device).type != "cpu":
        raise ValueError(f"the {path.label} inference path runs on the CPU only, not on {device}")
    from open_clip.transformer import ResidualAttentionBlock

    model.eval()
    for block in [m for m in model.clip.modules() if isinstance(m, ResidualAttentionBlock)]:
        try:
            _quantize_block(block)
        except RuntimeError as exc:  # torch's quantizer on weights out of any range (huge, overflowing values)
            first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise CrossfoldError(f"the model's weights cannot run on the {path.label} path ({first}): their "
                                 "values are out of range; check the weights") from exc
    return model


def _quantize_block(block: Any) -> None:
    import torch
    from torch import nn

    from engine.models.int8_attention import Int8SelfAttention, quantize_linears

    mha = block.attn
    if isinstance(mha, nn.MultiheadAttention) and Int8SelfAttention.fits(mha):
        block.attn = Int8SelfAttention(mha)
    quantize_linears(block.mlp)
    # open_clip reads the blocks' weight dtype from mlp.c_fc.weight (a method once quantized): it says so here
    block.mlp.c_fc.int8_original_dtype = torch.float32


def query_device(path: InferencePath, device: str) -> str:
    """Where queries on ``path`` run: a CPU path on the CPU whatever ``device`` says (an index built on the CPU
    is searched on its path even where a GPU is), the exact path on ``device``."""
    return "cpu" if path is not InferencePath.EXACT else device
