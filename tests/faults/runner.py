"""Runs fault cases through the real ``trainer`` CLI (in this process, ``trainer.cli.main``) and judges each.

For every case: the exit code, whether anything escaped as a traceback, whether a refusal is one line on stderr,
forbidden output (``Traceback``, ``weights_only=False``...), good records kept (items and captions of the dataset
the case imports into), forbidden files' content imported, files opened inside a forbidden path (an audit hook
sees every ``open`` of this process), files written outside the case's workspace, and hangs (an alarm per case).
Child processes (the render pool) are outside the audit hook's sight.

``run_corpus(work)`` builds and runs every corpus; ``summarise`` gives the per-category table of
``bench/faults.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.case import FaultCase

#: Longest a case may run before it counts as a hang.
CASE_SECONDS = 180


@dataclass
class Outcome:
    case: FaultCase
    exit_code: int
    stderr: str
    traceback: bool = False
    hang: bool = False
    problems: list[str] = field(default_factory=list)
    good_lost: bool = False
    outside_reads: list[str] = field(default_factory=list)
    outside_writes: list[str] = field(default_factory=list)

    @property
    def clear(self) -> bool:
        """Ended as expected: the right exit, one line for a refusal, nothing forbidden, nothing lost or leaked."""
        return not (self.traceback or self.hang or self.problems or self.good_lost or self.outside_reads
                    or self.outside_writes)


# ---- what the process opens --------------------------------------------------------------------------------------
class _Opens:
    def __init__(self) -> None:
        self.active = False
        self.reads: list[str] = []
        self.writes: list[str] = []

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or event != "open" or not args:
            return
        path, mode = args[0], args[1] if len(args) > 1 else None
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        text = os.fsdecode(path)
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
        (self.writes if writing else self.reads).append(text)


_OPENS = _Opens()
_HOOKED = False


@contextlib.contextmanager
def _watch_opens() -> Iterator[_Opens]:
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_OPENS.hook)  # cannot be removed: it records only while active
        _HOOKED = True
    _OPENS.reads, _OPENS.writes, _OPENS.active = [], [], True
    try:
        yield _OPENS
    finally:
        _OPENS.active = False


class _Hang(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _Hang


def trainer(argv: list[str], seconds: int = CASE_SECONDS) -> tuple[int, str, str, bool, bool]:
    """``trainer ARGV`` in this process: (exit code, stdout, stderr, traceback escaped, hang)."""
    from trainer.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                return int(main(argv) or 0), out.getvalue(), err.getvalue(), False, False
            except SystemExit as exc:  # argparse refusals
                return int(exc.code or 0), out.getvalue(), err.getvalue(), False, False
    except _Hang:
        return -1, out.getvalue(), err.getvalue(), False, True
    except BaseException as exc:  # noqa: BLE001 - what a user would see as a traceback
        return -1, out.getvalue(), f"{err.getvalue()}Traceback: {type(exc).__name__}: {exc}", True, False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---- judging one case ----------------------------------------------------------------------------------------------
def _workspace(case: FaultCase, default: Path) -> Path:
    args = list(case.argv)
    return Path(args[args.index("--workspace") + 1]) if "--workspace" in args else default


def _forbidden_lines(paths: tuple[Path, ...]) -> set[str]:
    lines: set[str] = set()
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        for f in files:
            lines |= {" ".join(line.split()) for line in f.read_bytes().decode("utf-8", "replace").splitlines()
                      if line.strip()}
    return lines


def _inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r + os.sep) for r in roots)


def _records(case: FaultCase, ws: Path, problems: list[str]) -> bool:
    """Check the dataset's counts and that nothing forbidden was imported; True when good records were lost."""
    if case.good_records is None and case.good_captions is None and not case.forbidden:
        return False
    rc, shown, _, _, _ = trainer(["datasets", "show", case.dataset, "--json", "--items", "100000",
                                  "--workspace", str(ws)])
    data = json.loads(shown) if rc == 0 and shown.strip() else {"items": 0, "by_modality": {}, "sample": []}
    lost = False
    if case.good_records is not None and data["items"] != case.good_records:
        problems.append(f"{data['items']} items, expected {case.good_records}")
        lost = data["items"] < case.good_records
    captions = data["by_modality"].get("text", 0)
    if case.good_captions is not None and captions != case.good_captions:
        problems.append(f"{captions} captions, expected {case.good_captions}")
        lost = lost or captions < case.good_captions
    secret = _forbidden_lines(case.forbidden)
    real_forbidden = [os.path.realpath(p) for p in case.forbidden]
    for item in data["sample"]:
        if leaked := secret & set(item["captions"]):
            problems.append(f"caption(s) from a forbidden file imported: {sorted(leaked)[:3]}")
        for path in [*item["images"], *item["views"], *([item["asset_path"]] if item["asset_path"] else [])]:
            if _inside(path, real_forbidden):
                problems.append(f"forbidden file imported: {path}")
    return lost


def run_case(case: FaultCase, default_ws: Path) -> Outcome:
    ws = _workspace(case, default_ws)
    if case.setup is not None:
        case.setup(ws)
    problems: list[str] = []
    for argv in case.before:
        rc, _, err, _, _ = trainer([*argv, "--workspace", str(ws)])
        if rc != 0:
            problems.append(f"setup {argv[:2]} exited {rc}: {err.strip()[-300:]}")
    argv = list(case.argv) if "--workspace" in case.argv else [*case.argv, "--workspace", str(ws)]
    with _watch_opens() as opens:
        code, out, err, escaped, hang = trainer(argv)
    outcome = Outcome(case, code, err, traceback=escaped or "Traceback" in err, hang=hang)
    if outcome.traceback or hang:
        return outcome
    lines = [line for line in err.splitlines() if line.strip()]
    if code != case.expect_exit:
        problems.append(f"exit {code}, expected {case.expect_exit}: {(err or out).strip()[-300:]}")
    if case.expect_exit == 2 and len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, expected one")
    problems += [f"output contains {word!r}" for word in case.forbidden_output if word in err or word in out]
    forbidden = [os.path.realpath(p) for p in case.forbidden]
    outcome.outside_reads = sorted({p for p in opens.reads if forbidden and _inside(p, forbidden)})
    allowed = [os.path.realpath(ws), "/dev", "/proc"]
    work = os.path.realpath(default_ws.parent)
    outcome.outside_writes = sorted({p for p in opens.writes if not _inside(p, allowed)
                                     and (_inside(p, [work]) or not _inside(p, [tempfile.gettempdir()]))})
    outcome.good_lost = _records(case, ws, problems)
    if case.check is not None:
        problems += [f"wrong result: {p}" for p in case.check(ws, out + err)]
    outcome.problems = problems
    if "--workspace" in case.argv and not case.shared_workspace:  # a case's own copy (GBs over the corpus): removed
        shutil.rmtree(ws, ignore_errors=True)
    return outcome


def describe(outcome: Outcome) -> str:
    what = [*outcome.problems]
    if outcome.traceback:
        what.append(f"traceback: {outcome.stderr.strip()[-500:]}")
    if outcome.hang:
        what.append(f"no answer in {CASE_SECONDS} s")
    what += [f"read {p}" for p in outcome.outside_reads] + [f"wrote {p}" for p in outcome.outside_writes]
    return f"{outcome.case.name}: {'; '.join(what)}"


# ---- the whole corpus ------------------------------------------------------------------------------------------------
def all_cases(work: Path) -> list[FaultCase]:
    from tests.faults.corpus_derived import derived_cases
    from tests.faults.corpus_importers import importer_cases
    from tests.faults.corpus_machine import machine_cases
    from tests.faults.corpus_render import render_cases
    from tests.faults.corpus_state import state_cases

    return [*importer_cases(work / "importers"), *state_cases(work / "state"), *render_cases(work / "state"),
            *machine_cases(work / "state"), *derived_cases(work / "state")]


def run_corpus(work: Path, cases: list[FaultCase] | None = None) -> list[Outcome]:
    """Every case in turn; importer cases share one workspace (``work/ws``), as a user's imports do; the machine
    corpus's tmpfs is unmounted at the end."""
    from tests.faults.corpus_machine import unmount_all

    cases = all_cases(work) if cases is None else cases
    try:
        return [run_case(case, work / "ws") for case in cases]
    finally:
        unmount_all()


def summarise(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        r = rows.setdefault(o.case.category, {"category": o.case.category, "inputs": 0, "clear": 0,
                                               "tracebacks": 0, "good_lost": 0, "outside_reads": 0,
                                               "outside_writes": 0, "hangs": 0, "other_problems": 0})
        r["inputs"] += 1
        r["clear"] += o.clear
        r["tracebacks"] += o.traceback
        r["good_lost"] += o.good_lost
        r["outside_reads"] += bool(o.outside_reads)
        r["outside_writes"] += bool(o.outside_writes)
        r["hangs"] += o.hang
        r["other_problems"] += bool(o.problems) and not o.good_lost
    total = {"category": "all", **{k: sum(r[k] for r in rows.values()) for k in next(iter(rows.values()))
                                   if k != "category"}} if rows else {}
    return [*sorted(rows.values(), key=lambda r: r["category"]), *([total] if total else [])]
