"""Hostile workspace states and arguments: damaged catalogues, workspaces, checkpoints, indexes, bad flags.

``state_cases(tmp)`` builds one small template workspace in ``tmp/template`` (a toy shape dataset, a 2-step
run ``ok`` with its checkpoints, and its indexes); each case gets its own copy at ``tmp/cases/<name>``, which
its ``setup`` damages before ``argv`` runs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.faults.case import FaultCase

RUN = "ok"
DATASET = "toy-shapes"
ALWAYS_FORBIDDEN = ["Traceback", "sqlalchemy", "weights_only=False"]


# ---- the template ------------------------------------------------------------------------------------------
def build_template(root: Path) -> Path:
    """Toy dataset + run ``ok`` (2 steps, checkpoints) + its indexes + an import log; built once per ``tmp``."""
    if (root / "ready").exists():
        return root
    import torch

    from engine.indexing import index_run
    from engine.run.config import TrainConfig
    from engine.train.loop import train
    from tests.engine.train.conftest import make_toy_workspace

    ws = make_toy_workspace(root, n_items=12)
    torch.set_num_threads(1)
    config = TrainConfig(dataset=DATASET, loss="clip", model="cf-vit-tiny-64", max_steps=2, batch_size=4,
                         views_per_item=2, captions_per_item=2, lr=1e-3, warmup=1, workers=0, device="cpu",
                         name=RUN, val_frequency=2, save_frequency=2, precision="fp32")
    train(config, ws)
    index_run(ws, ws.catalog(), RUN, device="cpu")
    (root / "ready").write_text("")
    return root


def _copy_template(template: Path) -> Callable[[Path], None]:
    def copy(ws: Path) -> None:
        """A copy whose runs and index rows point into it (the catalogue is closed again afterwards)."""
        from engine.catalog import Catalog, IndexRow

        if ws.exists():
            shutil.rmtree(ws)
        shutil.copytree(template, ws)
        (ws / "ready").unlink(missing_ok=True)
        catalog = Catalog(ws / "catalog.sqlite")
        try:
            for run in catalog.runs():
                catalog.upsert_run(run.name, run_dir=run.run_dir.replace(str(template), str(ws)))
            with catalog.session() as s:
                for row in s.query(IndexRow).all():
                    row.path = row.path.replace(str(template), str(ws))
        finally:
            catalog.close()

    return copy


# ---- damage ------------------------------------------------------------------------------------------------
def _catalog(ws: Path) -> Path:
    return ws / "catalog.sqlite"


def _random_bytes(path: Path, n: int = 40_000) -> None:
    path.write_bytes(random.Random(0).randbytes(n))


def _checkpoint_unwind(path: Path) -> None:
    """Fold the WAL into the file (a damaged file is then all there is)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def _truncate(size: int | float) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        p = _catalog(ws)
        _checkpoint_unwind(p)
        os.truncate(p, int(size if isinstance(size, int) else p.stat().st_size * size))

    return damage


def _flip_page(page: int) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        p = _catalog(ws)
        _checkpoint_unwind(p)
        with p.open("r+b") as f:
            f.seek(page * 4096)
            data = f.read(4096)
            f.seek(page * 4096)
            f.write(bytes(b ^ 0xFF for b in data))

    return damage


def _drop_table(table: str) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        conn = sqlite3.connect(_catalog(ws))
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
        conn.close()

    return damage


def _replace_with_dir(path_of: Callable[[Path], Path]) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        p = path_of(ws)
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
        for side in ("-wal", "-shm"):
            p.with_name(p.name + side).unlink(missing_ok=True)
        p.mkdir(parents=True)
        (p / "inside").write_text("x")

    return damage


def _write(path_of: Callable[[Path], Path], data: bytes) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        p = path_of(ws)
        if p.is_dir():
            shutil.rmtree(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    return damage


def _random_catalog(ws: Path) -> None:
    _checkpoint_unwind(_catalog(ws))
    _random_bytes(_catalog(ws))


def _header(ws: Path) -> None:
    p = _catalog(ws)
    _checkpoint_unwind(p)
    with p.open("r+b") as f:
        f.write(b"NOT SQLITE AT ALL")


def _best(ws: Path) -> Path:
    return ws / "runs" / RUN / "checkpoints" / "best.pt"


def _save(obj_of: Callable[[dict], object], name: str) -> Callable[[Path], None]:
    def make(ws: Path) -> None:
        import torch

        state = torch.load(_best(ws), weights_only=True)
        torch.save(obj_of(state), ws / name)

    return make


def _renamed(state: dict) -> dict:
    return {**state, "state_dict": {"x." + k: v for k, v in state["state_dict"].items()}}


def _reshaped(state: dict) -> dict:
    import torch

    sd = dict(state["state_dict"])
    key = next(iter(sd))
    sd[key] = torch.zeros(3, 3)
    return {**state, "state_dict": sd}


def _index_files(ws: Path) -> list[Path]:
    return sorted((ws / "indexes").rglob("*.hnsw"))


def _each_index(change: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        for p in _index_files(ws):
            change(p)

    return damage


def _truncate_file(p: Path) -> None:
    os.truncate(p, p.stat().st_size // 2)


def _append(p: Path) -> None:
    with p.open("ab") as f:
        f.write(b"\0" * 64)


def _flip_middle(p: Path) -> None:
    size = p.stat().st_size
    with p.open("r+b") as f:
        f.seek(size // 2)
        data = f.read(256)
        f.seek(size // 2)
        f.write(bytes(b ^ 0xFF for b in data))


def _index_dir(p: Path) -> None:
    p.unlink()
    p.mkdir()


def _then(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(ws: Path) -> None:
        for step in steps:
            step(ws)

    return run


# ---- the cases ---------------------------------------------------------------------------------------------
def state_cases(tmp: Path) -> list[FaultCase]:
    template = build_template(tmp / "template")
    copy = _copy_template(template)
    cases: list[FaultCase] = []

    def add(name: str, category: str, args: list[str], expect: int, damage: Callable[[Path], None] | None = None,
            forbidden: list[str] | None = None, ws: Path | None = None, fresh: bool = False) -> None:
        root = ws or tmp / "cases" / name
        steps = [] if fresh else [copy]
        setup = _then(*steps, *([damage] if damage else []))
        cases.append(FaultCase(name, category, [*args, "--workspace", str(root)], expect,
                               forbidden_output=(*ALWAYS_FORBIDDEN, *(forbidden or [])), setup=setup))

    csv = tmp / "source.csv"
    csv.write_text("filepath,title\n" + "".join(f"{tmp}/img{i}.png,caption {i}\n" for i in range(3)))
    listing, show, imp = ["datasets", "list"], ["datasets", "show", DATASET], ["import", "csv", str(csv), "--name", "n"]

    # catalogue: each kind of damage, through listing, showing and importing
    for label, damage in (("random-bytes", _random_catalog), ("truncated-5k", _truncate(5000)),
                          ("truncated-half", _truncate(0.5)), ("zero-bytes", _truncate(0)),
                          ("page-2-flipped", _flip_page(1)), ("page-3-flipped", _flip_page(2)),
                          ("header-overwritten", _header), ("directory", _replace_with_dir(_catalog)),
                          ("text-file", _write(_catalog, b"hello, I am not a database\n")),
                          ("dropped-observations", _drop_table("observations")),
                          ("dropped-datasets", _drop_table("datasets")), ("dropped-runs", _drop_table("runs"))):
        for verb, args in (("list", listing), ("show", show), ("import", imp)):
            add(f"catalog-{label}-{verb}", "catalog", args, 2, damage, forbidden=["Traceback"])
    add("catalog-random-bytes-doctor", "catalog", ["doctor"], 1, _random_catalog)
    add("catalog-random-bytes-repair", "catalog", ["doctor", "--repair"], 0, _random_catalog)
    add("catalog-directory-repair", "catalog", ["doctor", "--repair"], 0, _replace_with_dir(_catalog))
    add("catalog-lock-is-directory", "catalog", listing, 2, _replace_with_dir(lambda ws: ws / "catalog.sqlite.lock"))

    # workspace
    as_file = tmp / "cases" / "workspace-is-a-file"
    add("workspace-is-a-file", "workspace", listing, 2, _write(lambda ws: ws, b"x"), ws=as_file, fresh=True)
    under_file = tmp / "cases" / "workspace-under-a-file" / "ws"
    add("workspace-under-a-file", "workspace", listing, 2, _write(lambda ws: ws.parent, b"x"), ws=under_file,
        fresh=True)
    add("workspace-runs-is-a-file-doctor", "workspace", ["doctor"], 0,
        _then(lambda ws: shutil.rmtree(ws / "runs"), _write(lambda ws: ws / "runs", b"x")), )
    add("workspace-run-config-garbage-doctor", "workspace", ["doctor"], 0,
        _write(lambda ws: ws / "runs" / RUN / "config.yaml", b"\xff\xfe: [unclosed"))

    # checkpoints, through eval (the same loader serves resume and indexing)
    evaluate = ["eval", "--run", RUN, "--device", "cpu", "--checkpoint"]
    for label, make in (("no-state-dict", _save(lambda s: {"model": s["state_dict"]}, "bad.pt")),
                        ("renamed-keys", _save(_renamed, "bad.pt")),
                        ("reshaped-tensor", _save(_reshaped, "bad.pt")),
                        ("python-objects", _save(lambda s: {**s, "extra": argparse.Namespace(a=1)}, "bad.pt")),
                        ("a-list", _save(lambda s: [1, 2, 3], "bad.pt")),
                        ("truncated", lambda ws: (ws / "bad.pt").write_bytes(_best(ws).read_bytes()[:5000])),
                        ("random-bytes", lambda ws: _random_bytes(ws / "bad.pt")),
                        ("empty", lambda ws: (ws / "bad.pt").write_bytes(b"")),
                        ("directory", _replace_with_dir(lambda ws: ws / "bad.pt"))):
        add(f"checkpoint-{label}", "checkpoint", [*evaluate, str(tmp / "cases" / f"checkpoint-{label}" / "bad.pt")],
            2, make, forbidden=[] if label == "python-objects" else ["refused to load"])
    add("checkpoint-best-random-bytes", "checkpoint", [*evaluate, "best"], 2, lambda ws: _random_bytes(_best(ws)))
    add("checkpoint-none-left", "checkpoint", [*evaluate, "latest"], 2,
        lambda ws: shutil.rmtree(ws / "runs" / RUN / "checkpoints"))

    # prompt templates of `trainer eval --by-category`
    by_category = ["eval", "--run", RUN, "--device", "cpu", "--by-category", "--prompts"]
    for label, make in (("no-slot", _write(lambda ws: ws / "prompts.txt", b"a photo of something\n")),
                        ("only-comments", _write(lambda ws: ws / "prompts.txt", b"# nothing\n\n")),
                        ("random-bytes", lambda ws: _random_bytes(ws / "prompts.txt")),
                        ("directory", _replace_with_dir(lambda ws: ws / "prompts.txt"))):
        name = f"eval-prompts-{label}"
        add(name, "args", [*by_category, str(tmp / "cases" / name / "prompts.txt")], 2, make)
    add("eval-prompts-missing", "args", [*by_category, str(tmp / "cases" / "eval-prompts-missing" / "absent.txt")],
        2)
    add("eval-prompts-without-by-category", "args", ["eval", "--run", RUN, "--prompts", "p.txt"], 2)

    # indexes of the real run, through search
    search = ["search", "--run", RUN, "--text", "a red square", "--device", "cpu"]
    for label, change in (("truncated", _truncate_file), ("appended", _append), ("flipped", _flip_middle),
                          ("random-bytes", lambda p: _random_bytes(p, p.stat().st_size)),
                          ("deleted", Path.unlink), ("directory", _index_dir)):
        add(f"index-{label}", "index", search, 2, _each_index(change))

    # arguments (not train)
    for label, args in (("render-views-0", ["render", DATASET, "--views", "0"]),
                        ("render-size-negative", ["render", DATASET, "--size", "-1"]),
                        ("render-elevation-nan", ["render", DATASET, "--elevation", "nan"]),
                        ("demo-data-shapes-negative", ["demo-data", "--shapes", "-1"]),
                        ("demo-data-size-0", ["demo-data", "--size", "0"]),
                        ("demo-data-views-word", ["demo-data", "--views", "many"]),
                        ("search-text-blank", ["search", "--text", "   "]),
                        ("search-text-empty", ["search", "--text", ""]),
                        ("search-k-0", ["search", "--text", "red", "--k", "0"]),
                        ("index-M-0", ["index", "--run", RUN, "--M", "0"]),
                        ("datasets-show-items-negative", ["datasets", "show", DATASET, "--items", "-1"]),
                        ("import-name-escape", ["import", "csv", str(csv), "--name", "../../escape"]),
                        ("import-name-dot", ["import", "csv", str(csv), "--name", ".hidden"]),
                        ("import-name-slash", ["import", "csv", str(csv), "--name", "a/b"]),
                        ("import-name-long", ["import", "csv", str(csv), "--name", "x" * 101]),
                        ("import-name-space", ["import", "csv", str(csv), "--name", "my data"])):
        add(f"args-{label}", "args", args, 2, fresh=True)
    add("args-search-category-unknown", "args", [*search, "--category", "nosuch"], 2, forbidden=["0 hits"])
    add("args-datasets-show-unknown", "args", ["datasets", "show", "nosuch"], 2)
    return cases
