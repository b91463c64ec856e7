"""Damaged derived files (issue 21 §4): job files, packed stores, events files, pretrained weights, and numbers no
flag can take. Category ``derived``.

Each case damages its own copy of the state corpus's template (``tests/faults/corpus_state.py``); the packed-store
cases first pack the toy dataset in it at the template model's input size. Training is the dearest command here:
it runs where the store's fall-back is the point (damage that read in silence before, pixels that fail their
checksum); the other damaged indexes go through ``trainer pack``, which opens the store as training does and
packs it again. Where a wrong result could pass in silence, the case's ``check`` looks at
what the command left: the job file pruned, the store not used (or its damaged blocks read from the files, with
the warning), a skipped event counted, no run row for a zero-shot run whose weights were refused.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.faults.case import FaultCase
from tests.faults.corpus_state import ALWAYS_FORBIDDEN, DATASET, RUN, _copy_template, build_template

MODEL = "cf-vit-tiny-64"  # the template run's model: its store is the one training asks for
TRAIN = ["train", "--dataset", DATASET, "--model", MODEL, "--max-steps", "1", "--batch-size", "4",
         "--views-per-item", "2", "--captions-per-item", "1", "--device", "cpu", "--workers", "0",
         "--precision", "fp32", "--warmup", "0", "--name", "again"]
ZERO_SHOT = ["index", "--model", MODEL, "--dataset", DATASET, "--name", "zs", "--device", "cpu", "--pretrained"]
_TRAILER = struct.Struct("<Q8s")


def _pack(ws: Path) -> None:
    """A packed store of the toy dataset for ``MODEL`` (what `trainer pack toy-shapes --model MODEL` writes)."""
    from engine.data.packed import pack_dataset
    from engine.models import build_encoder
    from engine.workspace import Workspace

    _, _, preprocess, _ = build_encoder(MODEL, pretrained=None, device="cpu")
    catalog = Workspace.open(ws).catalog()
    try:
        pack_dataset(catalog, Workspace.open(ws).packed, DATASET, preprocess, threads=1)
    finally:
        catalog.close()


# ---- damage ------------------------------------------------------------------------------------------------------
def _job_file(name: str, record: Any) -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        (ws / "jobs").mkdir(exist_ok=True)
        (ws / "jobs" / name).write_text(json.dumps(record))

    return damage


def _init_job(ws: Path) -> None:
    """pid 1 with its real start time: a live process, not a trainer."""
    from engine.processes import live_process

    init = live_process(1)
    _job_file("1.json", {"pid": 1, "kind": "train", "started": 1.0,
                         "created": init.started if init is not None and init.started else 1.0})(ws)


def _deep_event(ws: Path) -> None:
    with (ws / "runs" / RUN / "events.jsonl").open("a", encoding="utf-8") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")


def _store(ws: Path) -> Path:
    return next((ws / "renders" / "packed").glob("*.u8"))


def _split(path: Path) -> tuple[bytes, dict[str, Any]]:
    data = path.read_bytes()
    length, _ = _TRAILER.unpack(data[-_TRAILER.size:])
    start = len(data) - _TRAILER.size - length
    return data[:start], json.loads(data[start:-_TRAILER.size])


def _index(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Rewrite the store's index as ``change`` makes it (its pixels kept)."""
    def damage(ws: Path) -> None:
        from engine.data.packed import MAGIC

        path = _store(ws)
        pixels, index = _split(path)
        blob = json.dumps(change(index)).encode()
        path.write_bytes(pixels + blob + _TRAILER.pack(len(blob), MAGIC))

    return damage


def _pixels(change: Callable[[Any, dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Rewrite the store's pixels as ``change`` makes them (a uint8 array [count, H, W, 3]; its index kept)."""
    def damage(ws: Path) -> None:
        import numpy as np

        path = _store(ws)
        pixels, index = _split(path)
        array = np.frombuffer(pixels, dtype=np.uint8).reshape(index["count"], index["height"], index["width"], 3)
        new = np.ascontiguousarray(change(array, index)).tobytes()
        data = path.read_bytes()
        path.write_bytes(new + data[len(pixels):])

    return damage


def _rows(make: Callable[[int, int], int]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(index: dict[str, Any]) -> dict[str, Any]:
        return {**index, "rows": {p: make(r, index["count"]) for p, r in index["rows"].items()}}

    return change


def _garble(array: Any, _: dict[str, Any]) -> Any:
    return array ^ 0x5A


def _old_version(index: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in index.items() if k not in ("crc32", "block_rows")} | {"version": 1}


def _weights(make: Callable[[dict[str, Any]], dict[str, Any]], name: str = "w.pt") -> Callable[[Path], None]:
    def damage(ws: Path) -> None:
        import torch

        state = torch.load(ws / "runs" / RUN / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
        torch.save({"state_dict": make(state)}, ws / name)

    return damage


def _wider_text_positions(state: dict[str, Any]) -> dict[str, Any]:
    import torch

    pos = state["positional_embedding"]
    return {**state, "positional_embedding": torch.zeros(pos.shape[0], pos.shape[1] + 8)}


def _huge(state: dict[str, Any]) -> dict[str, Any]:
    """Finite weights whose products overflow float32: the model encodes nothing but infinities and NaN."""
    return {k: v * 1e30 if v.is_floating_point() and v.ndim >= 2 else v for k, v in state.items()}


def _nan(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v * float("nan") if v.is_floating_point() else v for k, v in state.items()}


# ---- checks --------------------------------------------------------------------------------------------------------
def _no_job_file(ws: Path, _: str) -> list[str]:
    left = sorted(p.name for p in (ws / "jobs").glob("*.json")) if (ws / "jobs").is_dir() else []
    return [f"job files left: {left}"] if left else []


def _started(ws: Path) -> dict[str, Any]:
    from engine.run.events import read_events

    return next((e for e in read_events(ws / "runs" / "again" / "events.jsonl") if e.get("event") == "started"), {})


class _Warnings(logging.Handler):
    """What the packed store warns of during a case (the CLI shows it on stderr through logging's last resort; under
    pytest the logging plugin takes it instead, so the case listens for itself)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


_STORE_LOG = logging.getLogger("engine.data.packed")
_HEARD = _Warnings()


def _listen(ws: Path) -> None:
    _HEARD.lines = []
    _STORE_LOG.addHandler(_HEARD)


def _store_used(expected: str, says: str) -> Callable[[Path, str], list[str]]:
    """The run read its pixels from ``expected`` (``files``/``packed``), and ``says`` appears in its output, its
    started event's note or the store's warnings."""
    def check(ws: Path, output: str) -> list[str]:
        _STORE_LOG.removeHandler(_HEARD)
        output += "\n".join(_HEARD.lines)
        started = _started(ws)
        found = []
        if started.get("store") != expected:
            found.append(f"trained from {started.get('store')!r}, expected {expected!r}")
        if says not in output and says not in str(started.get("note", "")):
            found.append(f"no word of {says!r}")
        return found

    return check


def _packed_again(ws: Path, output: str) -> list[str]:
    """`trainer pack` rewrote the damaged store, and the new one passes every check."""
    import numpy as np

    from engine.data.packed import block_sums, read_index

    if "(built)" not in output:
        return [f"the damaged store was kept: {output.strip()[-200:]}"]
    index = read_index(_store(ws))
    pixels, _ = _split(_store(ws))
    array = np.frombuffer(pixels, dtype=np.uint8).reshape(index["count"], index["height"], index["width"], 3)
    return [] if block_sums(array) == index["crc32"] else ["the new store fails its checksums"]


def _skipped_counted(ws: Path, output: str) -> list[str]:
    try:
        shown = json.loads(output[output.index("{"):])
    except ValueError:
        return ["runs show --json printed no JSON"]
    return [] if shown.get("skipped_events") == 1 else [f"skipped_events {shown.get('skipped_events')}, expected 1"]


def _no_zero_shot_run(ws: Path, _: str) -> list[str]:
    from engine.catalog import Catalog

    catalog = Catalog(ws / "catalog.sqlite")
    try:
        row = catalog.run("zs")
    finally:
        catalog.close()
    found = ["a run row 'zs' was left"] if row is not None else []
    return found + (["a run folder 'zs' was left"] if (ws / "runs" / "zs").exists() else [])


def _names_the_weights_file(ws: Path, output: str) -> list[str]:
    """The line names the file the user gave, not the run's private copy (gone with the run)."""
    found = _no_zero_shot_run(ws, output)
    if "w.pt" not in output:
        found.append("the weights file is not named")
    if f"{os.sep}runs{os.sep}zs" in output:
        found.append("a deleted checkpoint of run 'zs' is named")
    return found


# ---- the cases ---------------------------------------------------------------------------------------------------
def derived_cases(tmp: Path) -> list[FaultCase]:
    template = build_template(tmp / "template")
    copy = _copy_template(template)
    cases: list[FaultCase] = []

    def add(name: str, args: list[str], expect: int, damage: Callable[[Path], None] | None = None,
            check: Callable[[Path, str], list[str]] | None = None, packed: bool = False, fresh: bool = False) -> None:
        root = tmp / "cases" / f"derived-{name}"

        def setup(ws: Path) -> None:
            if not fresh:
                copy(ws)
            if packed:
                _pack(ws)
                _listen(ws)
            if damage is not None:
                damage(ws)

        cases.append(FaultCase(f"derived-{name}", "derived", [*args, "--workspace", str(root)], expect,
                               setup=setup, forbidden_output=tuple(ALWAYS_FORBIDDEN), check=check))

    # jobs/: a pid no system gives, and a live process that is not ours: ignored and removed
    index = ["index", "--run", RUN, "--device", "cpu"]
    add("jobs-pid-2e70-index", index, 0, _job_file(f"{2**70}.json", {"pid": 2**70}), _no_job_file)
    add("jobs-pid-2e70-train", TRAIN, 0, _job_file(f"{2**70}.json", {"pid": 2**70}), _no_job_file)
    add("jobs-pid-1-index", index, 0, _init_job, _no_job_file)
    add("jobs-not-json-index", index, 0, _job_file("123.json", "[[["), _no_job_file)

    # events.jsonl with a line nested deeper than any decoder goes: skipped and counted
    add("events-deep-runs-list", ["runs", "list"], 0, _deep_event)
    add("events-deep-runs-show", ["runs", "show", RUN, "--json"], 0, _deep_event, _skipped_counted)

    # --pretrained files that are no weights of the model: one line, no run left behind
    zs_file = tmp / "cases"
    for label, damage in (("empty", lambda ws: (ws / "w.pt").write_bytes(b"")),
                          ("symlink-to-etc-passwd", lambda ws: os.symlink("/etc/passwd", ws / "w.pt")),
                          ("text-positions-wider", _weights(_wider_text_positions)),
                          ("nan-weights", _weights(_nan)),
                          ("overflowing-weights", _weights(_huge))):
        add(f"pretrained-{label}", [*ZERO_SHOT, str(zs_file / f"derived-pretrained-{label}" / "w.pt")], 2, damage,
            _names_the_weights_file)

    # the packed store: an index that does not add up is not used (the files are, with a note); damaged pixels
    # are read from the files, with a warning
    auto, pack = [*TRAIN, "--store", "auto"], ["pack", DATASET, "--model", MODEL]
    for label, change in (("rows-past-the-end", _rows(lambda r, n: r + n)),
                          ("rows-negative", _rows(lambda r, n: -1 - r)),
                          ("no-checksums", _old_version)):
        add(f"packed-{label}-train", auto, 0, _index(change), _store_used("files", "packed store"), packed=True)
    add("packed-pixels-garbled-train", auto, 0, _pixels(_garble), _store_used("packed", "do not match their checksum"),
        packed=True)
    for label, change in (("rows-permuted", _rows(lambda r, n: n - 1 - r)),
                          ("count-1e9", lambda index: {**index, "count": 1e9}),
                          ("count-larger", lambda index: {**index, "count": index["count"] + 1}),
                          ("index-a-list", lambda index: [index]),
                          ("index-null", lambda index: None)):
        add(f"packed-{label}-pack", pack, 0, _index(change), _packed_again, packed=True)
    add("packed-pixel-rows-permuted-pack", pack, 0, _pixels(lambda a, _: a[::-1]), _packed_again, packed=True)

    # numbers no flag can take: refused at parsing, one line
    big = "9" * 20
    for label, args in (("train-seed", [*TRAIN, "--seed", "9" * 23]),
                        ("render-pack", ["render", DATASET, "--pack", big]),
                        ("pack-size", ["pack", DATASET, "--size", big]),
                        ("render-size", ["render", DATASET, "--size", big]),
                        ("index-ef-construction", [*index, "--ef-construction", big]),
                        ("index-ef", [*index, "--ef", big])):
        add(f"number-{label}", args, 2, fresh=True)
    return cases
