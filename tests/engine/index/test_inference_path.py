"""The fast CPU inference path (issue 23) on the test run: ranks as fp32's, recorded in the index stamp (an index
built on one path refuses queries on the other, or is rebuilt), the text query cache, devices, and no misleading
library warnings."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.evaluate.agreement import run_agreement
from engine.index import registry
from engine.index.errors import StaleIndexError
from engine.indexing import index_run
from engine.models import build_encoder, int8_attention
from engine.models.inference import (
    FAST_CPU,
    InferencePath,
    choose,
    fast_cpu_unavailable,
    index_stamp,
    prepare_for_inference,
    split_stamp,
    stamp_mismatch,
)
from engine.models.int8_attention import Int8SelfAttention, full_range_activations
from engine.models.weights_check import model_shapes
from engine.run.device import pick_device
from engine.run.restore import restore_run
from engine.search import Searcher
from engine.workspace import Workspace
from tests.cli_runner import run_trainer
from tests.conftest import FURNITURE_RUN, copy_workspace

RANDOM_INIT = "No pretrained weights loaded"


def test_fast_path_ranks_as_fp32_on_the_test_run(trained_furniture: Path) -> None:
    catalog = Workspace.open(trained_furniture).catalog()
    exact = restore_run(catalog, FURNITURE_RUN, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's deprecation warnings of quantization are not the user's
        fast = restore_run(catalog, FURNITURE_RUN, device="cpu", inference=FAST_CPU)
    assert any(isinstance(m, Int8SelfAttention) for m in fast.encoder.modules())
    assert exact.inference is InferencePath.EXACT and fast.index_stamp == f"{exact.index_stamp}+cpu-int8.2"
    agreement = run_agreement(catalog, FURNITURE_RUN, FAST_CPU)  # every split, both directions
    assert set(agreement.overlap) == {"text->shape", "shape->text"} and agreement.items > 40
    assert agreement.min_overlap >= 0.95, agreement
    assert agreement.max_recall_delta_points <= 0.5, agreement


def test_index_stamp_follows_the_path_and_the_other_path_is_refused_or_rebuilt(trained_furniture: Path,
                                                                                tmp_path: Path) -> None:
    ws = copy_workspace(trained_furniture, tmp_path / "ws")
    catalog = ws.catalog()
    # the fast path, as a CPU with VNNI builds by default (asked for here: any CPU runs it, see the next test)
    report = index_run(ws, catalog, FURNITURE_RUN, device="cpu",
                       restored=restore_run(catalog, FURNITURE_RUN, device="cpu", inference=FAST_CPU))
    assert report.inference == "cpu-int8"
    run_id = catalog.require_run(FURNITURE_RUN).id
    stamps = {row.modality: split_stamp(row.checkpoint_sha256)[1] for row in registry.rows(catalog, run_id=run_id)}
    assert set(stamps.values()) == {FAST_CPU}

    searcher = Searcher(ws, FURNITURE_RUN, device="cpu", catalog=catalog)  # follows the index's path
    assert searcher.search(text="a table", target="shapes", k=3).hits
    assert searcher.restored.inference is FAST_CPU
    first = searcher.embed_text("a table")  # cached per searcher: the same vector, never the cache's own array
    first[:] = 0
    assert searcher.embed_text("a table").any() and list(searcher._text_cache) == ["a table"]

    with pytest.raises(StaleIndexError, match=r"fast CPU .* not the exact .*trainer index --run furniture-clip "
                                              r"--exact"):
        Searcher(ws, FURNITURE_RUN, device="cpu", catalog=catalog, inference=InferencePath.EXACT).search(
            text="a table", target="shapes", k=3)
    done = run_trainer("search", "--workspace", str(ws.root), "--run", FURNITURE_RUN, "--text", "a table",
                       "--exact")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--exact`" in done.stderr and len(done.stderr.strip().splitlines()) == 1

    report = index_run(ws, catalog, FURNITURE_RUN, device="cpu", exact=True)  # the other path: rebuilt
    assert report.inference == "exact"
    assert {d["action"] for d in report.modalities.values()} == {"built"}
    with pytest.raises(StaleIndexError, match="exact .* not the fast CPU"):
        Searcher(ws, FURNITURE_RUN, device="cpu", catalog=catalog, inference=FAST_CPU).search(
            text="a table", target="shapes", k=3)
    follow = Searcher(ws, FURNITURE_RUN, device="cpu", catalog=catalog)
    assert follow.search(text="a table", target="shapes", k=3).hits
    assert follow.restored.inference is InferencePath.EXACT


@contextlib.contextmanager
def cpu_with_flags(tmp_path: Path, flags: str) -> Iterator[None]:
    """The process reads a ``/proc/cpuinfo`` whose flags are ``flags`` (the CPU's own again afterwards)."""
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(int8_attention, "CPUINFO", tmp_path / "cpuinfo")
            mp.setattr(torch.backends.quantized, "engine", "x86")
            full_range_activations.cache_clear()
            yield
    finally:
        full_range_activations.cache_clear()


def test_the_fast_path_is_the_default_only_on_a_cpu_that_runs_it_on_8_bits(trained_furniture: Path,
                                                                          tmp_path: Path) -> None:
    with cpu_with_flags(tmp_path, "fpu sse4_2 avx2 avx512f avx512bw avx512_vnni"):
        assert choose("cpu") is FAST_CPU and fast_cpu_unavailable() is None
    with cpu_with_flags(tmp_path, "fpu sse4_2 avx2 avx512f avx512bw"):  # 7-bit inputs: ranks moved, not default
        assert choose("cpu") is InferencePath.EXACT and "AVX-512 VNNI" in (fast_cpu_unavailable() or "")
        ws = copy_workspace(trained_furniture, tmp_path / "ws")
        done = run_trainer("index", "--workspace", str(ws.root), "--run", FURNITURE_RUN)
        assert done.returncode == 0, done.stderr
        assert "exact inference: the fast int8 path needs a CPU with AVX-512 VNNI" in done.stdout
        catalog = ws.catalog()
        rows = registry.rows(catalog, run_id=catalog.require_run(FURNITURE_RUN).id)
        assert rows and {split_stamp(r.checkpoint_sha256)[1] for r in rows} == {InferencePath.EXACT}


def test_paths_by_device_and_the_fast_path_never_on_a_gpu(trained_furniture: Path) -> None:
    assert choose("cpu") is (FAST_CPU if fast_cpu_unavailable() is None else InferencePath.EXACT)
    assert choose("cpu", exact=True) is InferencePath.EXACT
    assert choose("cuda") is InferencePath.EXACT and choose("mps") is InferencePath.EXACT
    assert split_stamp("ab12") == ("ab12", InferencePath.EXACT)
    # an index of the fast path's first revision (attention input projection int8 too): same path, stale
    assert split_stamp("ab12+cpu-int8") == ("ab12", FAST_CPU) == split_stamp(index_stamp("ab12", FAST_CPU))
    assert stamp_mismatch("ab12+cpu-int8", index_stamp("ab12", FAST_CPU)) == (
        "index was built by an earlier revision of the fast CPU (int8 Linear layers) inference path")
    assert stamp_mismatch("ab12+cpu-int8", "ab12").startswith("index was built on the fast CPU")
    assert stamp_mismatch("ab12+cpu-int8", "cd34+cpu-int8.2") is None  # another checkpoint: said by the caller
    if not torch.cuda.is_available():
        assert pick_device("auto", mps=True).type in ("cpu", "mps")
    encoder = build_encoder("cf-rn-tiny-64")[0]
    with pytest.raises(ValueError, match="CPU only"):
        prepare_for_inference(encoder, FAST_CPU, "cuda")


def test_weights_from_a_file_print_no_random_init_warning(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    weights = tmp_path / "w.pt"
    torch.save(build_encoder("cf-rn-tiny-64")[0].clip.state_dict(), weights)
    model_shapes("cf-rn-tiny-64")  # the check a file gets before a job (the model built with no weights)
    build_encoder("cf-rn-tiny-64", str(weights))
    assert RANDOM_INIT not in capfd.readouterr().err
