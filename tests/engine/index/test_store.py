from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import hnswlib
import numpy as np
import pytest

from engine.errors import CrossfoldError
from engine.index import ann, checksums, hnsw_file, loading, publish, queries
from engine.index.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from engine.index.manifest import IndexManifest
from engine.index.params import IndexParams

SMALL = IndexParams(M=16, ef_construction=100, ef=64)
REPO = Path(__file__).resolve().parents[3]


def unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_ids(base: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(q @ base.T), axis=1, kind="stable")[:, :k]]


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray]:
    base = unit(1500, 24, 0)
    ids = np.random.default_rng(1).permutation(1500).astype(np.int64) * 7 + 1000  # catalogue ids, shuffled
    return base, ids


@pytest.fixture()
def saved(tmp_path: Path, data) -> tuple[ann.AnnIndex, IndexManifest]:
    base, ids = data
    index = ann.build(base, ids, SMALL, num_threads=2)
    manifest = publish.save(index, tmp_path / "run" / "toy-text.hnsw", checkpoint_sha256="a" * 64, run="r1")
    return index, manifest


def test_recall_against_exact_search(data) -> None:
    base, ids = data
    index = ann.build(base, ids, SMALL)
    q = unit(100, 24, 2)
    labels, scores = queries.query(index, q, 10)
    truth = exact_ids(base, ids, q, 10)
    recall = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(labels, truth, strict=True)])
    assert recall >= 0.95
    assert labels.dtype == np.int64 and scores.dtype == np.float32 and labels.shape == (100, 10)
    assert (np.diff(scores, axis=1) <= 0).all()  # higher = better, best first
    np.testing.assert_allclose(scores[:, 0], (q @ base.T).max(1), atol=1e-5)  # inner product of unit vectors


def test_labels_map_to_the_given_ids(data) -> None:
    base, ids = data
    index = ann.build(base * 3.0, ids, SMALL)  # not normalised on the way in: the store normalises
    labels, scores = queries.query(index, base[[5, 77, 1400]], 1)
    assert labels[:, 0].tolist() == [ids[5], ids[77], ids[1400]]
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())


@pytest.mark.parametrize("exact_below", [queries.EXACT_BELOW, 0], ids=["exact-small-set", "overfetch-isin"])
def test_filtered_query_returns_only_allowed_ids_and_k_of_them(data, exact_below: int) -> None:
    base, ids = data
    index = ann.build(base, ids, SMALL)
    q = unit(40, 24, 3)
    rows = np.random.default_rng(4).choice(ids.size, 300, replace=False)
    allowed = np.concatenate([ids[rows], [5, 6, 999_999]])  # ids not in the index are ignored
    labels, scores = queries.query(index, q, 10, allowed=allowed, exact_below=exact_below)
    assert labels.shape == (40, 10)
    assert np.isin(labels, ids[rows]).all()
    assert all(np.unique(r).size == 10 for r in labels)
    truth = exact_ids(base[rows], ids[rows], q, 10)
    recall = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(labels, truth, strict=True)])
    assert recall >= 0.95
    assert (np.diff(scores, axis=1) <= 0).all()


def test_filtered_query_with_fewer_allowed_than_k_returns_all_of_them(data) -> None:
    base, ids = data
    index = ann.build(base, ids, SMALL)
    labels, _ = queries.query(index, unit(3, 24, 5), 10, allowed=[ids[1], ids[2], ids[3], 12345678])
    assert labels.shape == (3, 3)
    assert (np.sort(labels, axis=1) == np.sort(ids[1:4])).all()
    empty, _ = queries.query(index, unit(2, 24, 5), 10, allowed=[])
    assert empty.shape == (2, 0)


def test_k_larger_than_the_index_is_clipped() -> None:
    index = ann.build(unit(5, 8, 0), [10, 11, 12, 13, 14], SMALL)
    labels, _ = queries.query(index, unit(2, 8, 1), 10)
    assert labels.shape == (2, 5) and (np.sort(labels, 1) == np.arange(10, 15)).all()


def test_stale_checkpoint_is_refused_with_the_rebuild_command(saved) -> None:
    _, manifest = saved
    with pytest.raises(StaleIndexError, match=r"trainer index --run r1") as err:
        loading.load(manifest, checkpoint_sha256="b" * 64)
    assert isinstance(err.value, CrossfoldError)
    assert "checkpoint" in str(err.value)
    with pytest.raises(StaleIndexError, match="vectors"):
        loading.load(manifest, checkpoint_sha256="a" * 64, expected_count=manifest.count + 1)


def test_truncated_file_is_refused_before_hnswlib_reads_it(saved) -> None:
    _, manifest = saved
    data = manifest.path.read_bytes()
    manifest.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptIndexError, match="truncated or replaced.*trainer index --run r1"):
        loading.load(manifest, checkpoint_sha256="a" * 64)
    manifest.path.write_bytes(data[:50])  # shorter than the header
    with pytest.raises(StaleIndexError):
        loading.load(manifest)


def test_modified_file_of_the_same_size_is_refused_by_checksum(saved) -> None:
    _, manifest = saved
    loading.load(manifest)  # verified (and hashed) once
    with open(manifest.path, "r+b") as f:  # same size, a few vector bytes changed
        f.seek(manifest.file_size // 2)
        f.write(b"\x7f\x7f\x7f\x7f")
    assert manifest.path.stat().st_size == manifest.file_size
    with pytest.raises(CorruptIndexError, match="sha256"):
        loading.load(manifest)


def test_checksum_is_remembered_by_size_and_mtime_but_not_for_a_changed_file(saved, monkeypatch) -> None:
    _, manifest = saved
    calls = []
    real = checksums.hash_fd
    monkeypatch.setattr(checksums, "hash_fd", lambda fd: calls.append(fd) or real(fd))
    checksums.forget_checksums()
    loading.verify(manifest)
    loading.verify(manifest)
    assert len(calls) == 2  # a file younger than the timestamp granularity is hashed every time
    monkeypatch.setattr(checksums, "RACY_NS", -10**18)  # pretend it is old
    loading.verify(manifest)
    loading.verify(manifest)
    assert len(calls) == 3  # remembered
    st = manifest.path.stat()
    with open(manifest.path, "r+b") as f:
        f.seek(manifest.file_size // 2)
        f.write(b"\x01\x02\x03\x04")
    os.utime(manifest.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(CorruptIndexError, match="sha256"):
        loading.verify(manifest)
    assert len(calls) == 4


def test_corrupt_files_never_crash_the_process(saved, tmp_path: Path) -> None:
    """Truncated, header-garbled and same-size-modified files, each refused with an error in a child process
    (a crash inside hnswlib would kill it)."""
    _, manifest = saved
    data = manifest.path.read_bytes()
    variants = {
        "truncated": data[: len(data) - 1000],
        "header": b"\xff" * 96 + data[96:],
        "links": data[:-64] + b"\xff" * 64,
        "empty": b"",
    }
    for name, blob in variants.items():
        (tmp_path / f"{name}.hnsw").write_bytes(blob)
    script = textwrap.dedent(f"""
        import dataclasses, pathlib
        from engine.index import checksums, loading
        from engine.index.errors import StaleIndexError
        from engine.index.manifest import IndexManifest
        from engine.index.params import IndexParams
        m = IndexManifest(path=pathlib.Path("x"), count={manifest.count}, dim={manifest.dim},
                          params=IndexParams(M={SMALL.M}, ef_construction={SMALL.ef_construction}),
                          checkpoint_sha256="c", file_size={manifest.file_size},
                          file_sha256="{manifest.file_sha256}")
        for name in {sorted(variants)!r}:
            path = pathlib.Path({str(tmp_path)!r}) / (name + ".hnsw")
            for trusted in (False, True):  # trusted: a row that matches the bad file (only hnswlib stands guard)
                mm = m
                if trusted:
                    mm = dataclasses.replace(m, file_size=path.stat().st_size,
                                             file_sha256=checksums.file_sha256(path))
                try:
                    loading.load(dataclasses.replace(mm, path=path))
                    print(name, trusted, "loaded")
                except StaleIndexError as exc:
                    print(name, trusted, type(exc).__name__)
        print("alive")
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[-2] == "alive"
    assert all(line.endswith("Error") for line in lines[:-2]), proc.stdout


def test_missing_file_is_refused(saved) -> None:
    _, manifest = saved
    manifest.path.unlink()
    with pytest.raises(MissingIndexError, match="missing.*trainer index"):
        loading.load(manifest)


def test_atomic_save_leaves_no_temp_file(saved) -> None:
    _, manifest = saved
    assert sorted(p.name for p in manifest.path.parent.iterdir()) == ["toy-text.hnsw"]
    assert manifest.file_size == manifest.path.stat().st_size
    assert manifest.file_sha256 == checksums.file_sha256(manifest.path)


def test_failed_save_leaves_the_published_file_intact(saved, data, monkeypatch) -> None:
    _, manifest = saved
    before = manifest.path.read_bytes()
    base, ids = data
    other = ann.build(base[:100], ids[:100], SMALL)

    def broken(path):
        raise CorruptIndexError(path, "simulated short write")

    monkeypatch.setattr(publish, "check_layout", broken)
    with pytest.raises(CorruptIndexError, match="simulated"):
        publish.save(other, manifest.path, checkpoint_sha256="b" * 64)
    assert manifest.path.read_bytes() == before
    assert sorted(p.name for p in manifest.path.parent.iterdir()) == ["toy-text.hnsw"]
    with pytest.raises(ValueError, match="NaN"):  # a failed build never gets as far as the file
        ann.build(np.full((3, 24), np.nan), [1, 2, 3])
    assert loading.load(manifest).count == 1500


def test_check_layout_catches_a_short_write(saved, tmp_path: Path) -> None:
    _, manifest = saved
    assert hnsw_file.check_layout(manifest.path).count == 1500
    short = tmp_path / "short.hnsw"
    short.write_bytes(manifest.path.read_bytes()[:-8])
    with pytest.raises(CorruptIndexError):
        hnsw_file.check_layout(short)


def test_ef_comes_from_the_manifest_after_load(saved) -> None:
    _, manifest = saved
    raw = hnswlib.Index(space="ip", dim=manifest.dim)
    raw.load_index(str(manifest.path))
    assert raw.ef == 10  # hnswlib's default: ef is not in its file
    loaded = loading.load(manifest.with_ef(77))
    assert loaded.ef == 77 and loaded.hnsw.ef == 77 and loaded.params.ef == 77
    assert loading.load(manifest, ef=300).ef == 300


def test_incremental_add_finds_new_items_and_keeps_old(saved, data) -> None:
    index, manifest = saved
    base, ids = data
    new = unit(200, 24, 9)
    new_ids = np.arange(200) + 50_000
    copy = loading.load(manifest)
    added = ann.add(copy, np.concatenate([new, base[:10]]), np.concatenate([new_ids, ids[:10]]))
    assert added == 200  # the 10 labels already there are skipped
    m2 = publish.save(copy, manifest.path, checkpoint_sha256=manifest.checkpoint_sha256)
    assert m2.count == 1700 and m2.file_sha256 != manifest.file_sha256
    assert sorted(p.name for p in manifest.path.parent.iterdir()) == ["toy-text.hnsw"]
    grown = loading.load(m2)
    labels, _ = queries.query(grown, np.concatenate([new[:20], base[:20]]), 1)
    assert labels[:, 0].tolist() == new_ids[:20].tolist() + ids[:20].tolist()
    # A reader holding the old object keeps the old contents; the old manifest no longer matches the file.
    assert index.count == 1500 and queries.query(index, new[:1], 1)[0][0, 0] < 50_000
    with pytest.raises(StaleIndexError):
        loading.load(manifest)


def test_query_is_deterministic_and_breaks_ties_by_label() -> None:
    base = unit(400, 16, 0)
    a = ann.build(base, np.arange(400), SMALL, num_threads=1)
    b = ann.build(base, np.arange(400), SMALL, num_threads=1)
    q = unit(30, 16, 1)
    la, sa = queries.query(a, q, 10)
    lb, sb = queries.query(b, q, 10)
    la2, sa2 = queries.query(a, q, 10, num_threads=2)
    assert (la == lb).all() and (sa == sb).all() and (la == la2).all() and (sa == sa2).all()
    v = unit(1, 16, 7)[0]
    tied = ann.build(np.stack([v, v, v, -v]), [50, 10, 30, 5], SMALL)
    for allowed in (None, [50, 30, 10]):
        labels, scores = queries.query(tied, v, 3, allowed=allowed)
        assert labels[0].tolist() == [10, 30, 50]
        assert scores[0, 0] == scores[0, 1] == scores[0, 2]
    # More tied vectors than k (one caption shared by 25 items): the k smallest labels, whatever hnswlib's order.
    dup_ids = np.random.default_rng(3).permutation(25) + 1000
    many = ann.build(np.concatenate([np.repeat(v[None], 25, 0), base]), np.concatenate([dup_ids, np.arange(400)]),
                       SMALL)
    for allowed in (None, np.concatenate([dup_ids, np.arange(0, 400, 2)])):
        labels, _ = queries.query(many, v, 5, allowed=allowed)
        assert labels[0].tolist() == [1000, 1001, 1002, 1003, 1004]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="zero vector"):
        ann.build(np.zeros((2, 4)), [1, 2])
    with pytest.raises(ValueError, match="unique"):
        ann.build(unit(2, 4, 0), [1, 1])
    with pytest.raises(ValueError, match="labels"):
        ann.build(unit(2, 4, 0), [1, 2, 3])
    index = ann.build(unit(3, 4, 0), [1, 2, 3])
    with pytest.raises(ValueError, match="dimension"):
        queries.query(index, unit(1, 5, 0), 1)


def test_empty_index_saves_loads_and_answers_nothing(tmp_path: Path) -> None:
    index = ann.build(np.empty((0, 8), np.float32), [])
    manifest = publish.save(index, tmp_path / "empty.hnsw", checkpoint_sha256="z")
    loaded = loading.load(manifest)
    assert loaded.count == 0
    assert queries.query(loaded, unit(2, 8, 0), 5)[0].shape == (2, 0)
    ann.add(loaded, unit(3, 8, 1), [4, 5, 6])
    assert queries.query(loaded, unit(1, 8, 1), 5)[0].shape == (1, 3)


def test_loaded_index_reads_vectors_from_the_verified_file_even_after_a_rename(saved, data) -> None:
    _, manifest = saved
    base, ids = data
    loaded = loading.load(manifest)
    other = ann.build(unit(1500, 24, 42), ids, SMALL)
    publish.save(other, manifest.path, checkpoint_sha256="b" * 64)  # replaced under the reader
    np.testing.assert_allclose(loaded.vectors(ids[[3, 9]]), base[[3, 9]], atol=1e-6)
    labels, _ = queries.query(loaded, base[3], 1, allowed=ids[:50])
    assert labels[0, 0] == ids[3]
