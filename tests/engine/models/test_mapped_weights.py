"""Weights copied from a memory-mapped file, its pages dropped as they are copied (engine.models.weights_fit,
engine.memory): the model gets every value, and the file's tensors still read right afterwards."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.models import build_encoder
from engine.models.weights_fit import _copy_dropping_pages, load_fitting
from engine.run import checkpoint as ckpt


def test_mapped_load_in_small_chunks_and_slices_gives_the_files_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    saved = {k: v.clone() for k, v in build_encoder("cf-vit-tiny-64")[0].clip.state_dict().items()}
    path = tmp_path / "best.pt"
    torch.save({"state_dict": saved, "step": 3}, path)
    state, mapped = ckpt.load_mapped(path)
    assert mapped and state["step"] == 3

    torch.manual_seed(1)  # another random init, overwritten by the file
    model = build_encoder("cf-vit-tiny-64")[0].clip
    # chunks of 4 KiB: every larger tensor copied a slice at a time, each slice's pages dropped after
    _copy_dropping_pages(model, state["state_dict"], path, chunk_bytes=4096)
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in saved.items())
    assert all(torch.equal(state["state_dict"][k], v) for k, v in saved.items())  # dropped pages read again

    torch.manual_seed(2)
    again = build_encoder("cf-vit-tiny-64")[0].clip
    load_fitting(again, state["state_dict"], path, "cf-vit-tiny-64", mapped=True)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in saved.items())


def test_memory_outside_the_files_mapping_is_never_dropped(tmp_path: Path) -> None:
    """Heap memory handed in by mistake (a tensor converted on load, say) keeps its values: dropping its pages
    would read them back as zeros."""
    from engine.memory import drop_file_pages

    path = tmp_path / "w.pt"
    torch.save({"w": torch.arange(300_000, dtype=torch.float32)}, path)
    heap = torch.arange(300_000, dtype=torch.float32) + 1
    drop_file_pages(heap.data_ptr(), heap.nbytes, path)
    assert torch.equal(heap, torch.arange(300_000, dtype=torch.float32) + 1)
    mapped = torch.load(path, mmap=True, weights_only=True)["w"]
    drop_file_pages(mapped.data_ptr(), mapped.nbytes, path)  # the file's own pages: read again when touched
    assert torch.equal(mapped, torch.arange(300_000, dtype=torch.float32))
