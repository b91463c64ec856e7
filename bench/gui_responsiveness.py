"""GUI responsiveness: the longest stall of the Qt event loop of the real app window, idle and under load.

    .venv/bin/python bench/gui_responsiveness.py                          # fresh temp workspace, idle 20 s + load
    .venv/bin/python bench/gui_responsiveness.py --workspace /tmp/wgui --keep --seconds 15
    .venv/bin/python bench/gui_responsiveness.py --steps 300 --interval-ms 2
    DISPLAY=:0 .venv/bin/python bench/gui_responsiveness.py --platform xcb  # on a real screen

Preparation (not measured): the workspace (``--workspace``, default a fresh temp dir, removed at the end unless
``--keep``) gets ``shapes-demo`` (``trainer demo-data --shapes 120 --scenes 0``) if it has no such dataset, two
short runs ``gui-a`` and ``gui-b`` (``trainer train``, 20 steps of cf-vit-tiny-64, mxm) and the index of
``gui-a`` (``trainer index``), all as child processes; what is there already is reused. ``gui-b`` is left
without an index (an index of it from an earlier benchmark is removed): the load phase builds it.

Then the app's ``MainWindow`` on that workspace, shown at 1400x900 (``QT_QPA_PLATFORM=offscreen`` unless
``--platform`` names another platform and a display is set; settings go to a temp ``XDG_CONFIG_HOME``), is
warmed up (datasets listed, item grid filled, a first search on ``gui-a`` answered, one round of the script
below) and measured in two phases with the same scripted user activity: every ~250 ms the next action of a
cycle (switch to Datasets, scroll its item grid three times, switch to Training, select two runs in turn so
their charts redraw, switch to Search, type a query letter by letter (80 ms apart; the page's debounced search
then runs on ``gui-a`` in its search worker)).

* **idle** (the baseline): ``--seconds`` of that activity, no job.
* **load**: the same, while a training run of ``--steps`` steps (cf-vit-tiny-64, mxm, batch 16, CPU) is launched
  from the Training page's form (``RunForm.launch``: the form checks it, the page starts it and follows it live:
  table, progress, charts, log) and the Search page builds the index of ``gui-b``
  (``SearchPage.build_index(IndexNeeded(...))``, ``trainer index`` as a child process with its progress bar).
  The phase lasts until both jobs have ended (``--max-seconds`` at most); both must succeed (the run's
  catalogue status ``done``, a fresh index row of ``gui-b``), else the benchmark fails.

Stall probe: a ``Qt.PreciseTimer`` of ``--interval-ms`` (5) records ``time.perf_counter()`` at each tick; a
stall is ``gap - interval`` between consecutive ticks (the longest time the event loop could not serve a
timer). Per phase: p50, p99 and max stall, stalls over 50 ms, and for the worst one the scripted action that
ran last before it, the GUI thread's CPU time in the gap and its time waiting for a core
(``/proc/self/task/<tid>/schedstat``; the rest it was off the CPU: the GIL, a lock, I/O), the garbage
collections during it (on any thread: a collection holds the GIL), the GUI thread's Python stack sampled (every
10 ms, by a helper thread) while it was overdue, and, for stalls over 100 ms, every thread's stack, taken by
that helper (``sys._current_frames()``, holding the GIL: a thread that held the GIL throughout shows where it let
it go). Not ``faulthandler``'s watchdog: it walks the other threads' frames without the GIL while they run, and
crashed the process (see ``StallProbe``).
Target (load phase): max stall <= 50 ms. Prints the machine and a table; writes JSON (``--json``, default
``bench/results/gui_responsiveness.json``). On 2 cores the load phase also measures the scheduler: a GUI thread
waiting for a core is counted (the breakdown shows it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, machine  # noqa: E402

TARGET_MS = 50.0
DATASET = "shapes-demo"
MODEL = "cf-vit-tiny-64"
RUN_A, RUN_B = "gui-a", "gui-b"
QUERIES = ("a red chair", "blue table", "small green stool", "a yellow lamp", "wide brown bench")
ACTION_MS = 250
TYPE_MS = 80
SAMPLE_MS = 10
DUMP_MS = 100  # every thread's stack is taken once a stall is this long


# ---- preparation (child processes, not measured) -----------------------------------------------------------
def trainer(args: list[str], workspace: Path, log: Path) -> float:
    """``python -m trainer <args> --workspace DIR`` in the repository; its output goes to ``log``. Seconds."""
    cmd = [sys.executable, "-m", "trainer", *args, "--workspace", str(workspace)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
           "HF_HUB_OFFLINE": "1"}
    print(f"  $ trainer {' '.join(args)}", flush=True)
    start = time.perf_counter()
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise SystemExit(f"error: `trainer {' '.join(args)}` exited with {code}:\n{tail}")
    return time.perf_counter() - start


def prepare(workspace: Path, log: Path) -> dict[str, Any]:
    """Demo data, runs gui-a and gui-b, the index of gui-a; gui-b without an index. Reuses what is there."""
    from app.search_worker import index_needed
    from engine.index import registry
    from engine.workspace import Workspace

    done: dict[str, Any] = {}
    cat = Workspace.open(workspace).catalog()
    try:
        if cat.dataset(DATASET) is None:
            done["demo_data_s"] = trainer(["demo-data", "--shapes", "120", "--scenes", "0"], workspace, log)
        for name in (RUN_A, RUN_B):
            run = cat.run(name)
            if run is not None and run.status == "done":
                continue
            if run is not None:
                raise SystemExit(f"error: run {name} in {workspace} is {run.status!r}: use a fresh --workspace")
            done[f"train_{name}_s"] = trainer(
                ["train", "--dataset", DATASET, "--loss", "mxm", "--model", MODEL, "--max-steps", "20",
                 "--batch-size", "16", "--workers", "0", "--val-frequency", "20", "--save-frequency", "20",
                 "--device", "cpu", "--name", name], workspace, log)
        if index_needed(cat, RUN_A, "shapes") is not None:
            done[f"index_{RUN_A}_s"] = trainer(["index", "--run", RUN_A, "--device", "cpu"], workspace, log)
        run_b = cat.require_run(RUN_B)
        removed = 0
        for row in registry.rows(cat, run_id=run_b.id):  # left by an earlier benchmark: the load phase builds it
            removed += registry.remove(cat, run_b.id, row.dataset_id, row.modality, delete_file=True)
        if removed:
            done[f"removed_{RUN_B}_index_rows"] = removed
        if index_needed(cat, RUN_B, "shapes") is None:
            raise SystemExit(f"error: could not remove the index of {RUN_B}")
    finally:
        cat.close()
    return done


# ---- the probe ---------------------------------------------------------------------------------------------
class StallProbe:
    """Timer ticks (perf_counter) with the GUI thread's schedstat at each, a stack sampler and a GC log. While the
    loop is overdue the sampler (a Python thread) notes the GUI thread's stack every ``SAMPLE_MS``, and once a
    stall passes ``DUMP_MS`` every thread's stack (``dumps``, also appended to ``dump_path``), in faulthandler's
    format.

    This used faulthandler's watchdog (``dump_traceback_later``, re-armed at each tick) for those dumps, so that a
    thread holding the GIL throughout would still show. Its C thread reads the other threads' frame chains without
    the GIL while they run: it read a frame the sampler thread had just pushed or popped (``co=NULL``, or a frame
    pointer at ``_Py_NoneStruct``) and the process died of SIGSEGV in ``faulthandler_thread`` ->
    ``_Py_DumpTracebackThreads`` -> ``dump_frame``, with no Python traceback (4 of 8 runs of
    ``coco_scale.py``'s Datasets page at 120,000 cards, whose scroll phase then had ~90 stalls over 50 ms; 0 of 8
    without the watchdog). The sampler takes the stacks holding the GIL instead: a thread that holds it throughout
    a stall shows where it let it go, and a garbage collection (which holds it) is logged by ``gcs``."""

    def __init__(self, interval_ms: int, dump_path: Path) -> None:
        from PySide6.QtCore import QObject, Qt, QTimer

        self.interval_ms = interval_ms
        self.gui_ident = threading.get_ident()
        self._parent = QObject()
        self.timer = QTimer(self._parent)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        try:
            self._sched = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            self._sched = None
        self.ticks: list[float] = []
        self.cpu_ns: list[int] = []
        self.wait_ns: list[int] = []
        self.samples: list[tuple[int, float, tuple[str, ...]]] = []  # (ticks so far, time, innermost-first stack)
        self.gcs: list[tuple[float, float, int, bool]] = []  # (start, seconds, generation, on the GUI thread)
        self._gc_start: float | None = None
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        gc.callbacks.append(self._gc)
        self.dump_path = dump_path
        self._dump = dump_path.open("w")
        self.dumps: dict[int, str] = {}  # index of the tick that ended the gap -> every thread's stack in it

    def _schedstat(self) -> tuple[int, int]:
        if self._sched is None:
            return 0, 0
        fields = os.pread(self._sched, 128, 0).split()
        return int(fields[0]), int(fields[1])

    def _tick(self) -> None:
        now = time.perf_counter()
        self.ticks.append(now)
        cpu, wait = self._schedstat()
        self.cpu_ns.append(cpu)
        self.wait_ns.append(wait)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        """Every collection, on any thread (it holds the GIL throughout: no other thread runs Python meanwhile)."""
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self._gc_start is not None:
            self.gcs.append((self._gc_start, time.perf_counter() - self._gc_start, int(info.get("generation", -1)),
                             threading.get_ident() == self.gui_ident))
            self._gc_start = None

    def _sample(self) -> None:
        """While the GUI thread is overdue (no tick for interval + 20 ms), note its Python stack; once it is
        ``DUMP_MS`` overdue, every thread's (once per stall)."""
        late, dump_after = (self.interval_ms + 20) / 1e3, DUMP_MS / 1e3
        dumped = -1
        while not self._stop.wait(SAMPLE_MS / 1e3):
            ticks = self.ticks
            overdue = time.perf_counter() - ticks[-1] if ticks else 0.0
            if overdue < late:
                continue
            # Holding the GIL from here to the next wait: no thread moves its frames meanwhile. No system call
            # either (file reads, stat): each would let go of the GIL, and taking it back from a busy worker can
            # take longer than the stall (a thread back from a system call waits behind a CPU-bound one).
            frames = sys._current_frames()
            frame = frames.get(self.gui_ident)
            if frame is not None:
                self.samples.append((len(ticks), time.perf_counter(), tuple(_stack(frame, 12))))
            if overdue >= dump_after and dumped != len(ticks):
                dumped = len(ticks)  # the index the tick that ends this stall will have
                self.dumps[dumped] = format_threads(frames, overdue)

    def start(self) -> None:
        self.ticks, self.cpu_ns, self.wait_ns, self.samples, self.gcs, self.dumps = [], [], [], [], [], {}
        self._stop.clear()
        self._sampler = threading.Thread(target=self._sample, name="stall-sampler", daemon=True)
        self._sampler.start()
        self._tick()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self._tick()
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        for _, text in sorted(self.dumps.items()):
            self._dump.write(text)
        self._dump.flush()

    def close(self) -> None:
        self._dump.close()
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        if self._sched is not None:
            os.close(self._sched)


def format_threads(frames: dict[int, Any], overdue_s: float) -> str:
    """Every thread's Python stack but the calling one's, innermost first, in faulthandler's format (what
    ``parse_dump`` reads)."""
    lines = [f"Stalled {overdue_s * 1e3:.0f} ms (sampled)!"]
    me = threading.get_ident()
    for ident, frame in frames.items():
        if ident == me:
            continue
        lines.append(f"Thread 0x{ident:016x} (most recent call first):")
        while frame is not None:
            lines.append(f'  File "{frame.f_code.co_filename}", line {frame.f_lineno} in {frame.f_code.co_name}')
            frame = frame.f_back
        lines.append("")
    return "\n".join(lines) + "\n"


def _stack(frame: Any, limit: int) -> list[str]:
    """``path:line function`` of ``frame`` and its callers, innermost first (no file read: no source lines)."""
    stack = []
    while frame is not None and len(stack) < limit:
        stack.append(f"{_short(frame.f_code.co_filename)}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return stack


_REPO_PREFIX = str(REPO) + os.sep


def _short(filename: str) -> str:
    """The path relative to the repository, or to site-packages, else the file's name: string work only (the
    sampler calls it, and a file-system call would let go of the GIL)."""
    path = os.path.normpath(filename)
    if path.startswith(_REPO_PREFIX):
        return path[len(_REPO_PREFIX):]
    parts = Path(path).parts
    return "/".join(parts[parts.index("site-packages") + 1:]) if "site-packages" in parts else Path(path).name


def parse_dump(text: str, gui_ident: int) -> dict[str, Any]:
    """A dump (faulthandler's format) -> the GUI thread's stack and every other thread running Python (innermost
    first)."""
    threads: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"(?:Current thread|Thread) (0x[0-9a-f]+)", line)
        if m:
            current = m.group(1)
            threads[current] = []
            continue
        m = re.match(r'\s+File "(.+)", line (\d+) in (.+)', line)
        if m and current is not None:
            threads[current].append(f"{_short(m.group(1))}:{m.group(2)} {m.group(3)}")
    gui = f"0x{gui_ident:016x}"
    others = {t: frames for t, frames in threads.items() if t != gui and frames}
    return {"gui": threads.get(gui, []), "others": others}


def describe_dump(dump: dict[str, Any]) -> str:
    gui = culprit(tuple(dump["gui"])) if dump["gui"] else "(no Python frame)"
    busy = []
    for frames in dump["others"].values():
        if any(" _sample" in f for f in frames):  # the stall sampler
            continue
        where = culprit(tuple(frames))
        busy.append(where if where == frames[0] else f"{where} -> {frames[0]}")
    return f"GUI thread in {gui}; other threads in Python: {'; '.join(busy) if busy else 'none'}"


def culprit(stack: tuple[str, ...]) -> str:
    """The innermost frame of the app or the engine; else what the GUI thread was in."""
    for frame in stack:
        if frame.startswith(("app/", "engine/")):
            return frame
    if not stack:
        return "(no Python frame)"
    if " _step" in stack[0] or " <lambda>" in stack[0]:
        return "Qt C++ code under a scripted action"
    if stack[0].startswith("bench/"):
        return "the event loop (Qt C++ code, or waiting for a core)"
    return stack[0]


# ---- scripted user activity --------------------------------------------------------------------------------
class Driver:
    """Every ~250 ms the next action of the cycle; each action is timed and logged (start, name, seconds)."""

    def __init__(self, window: Any) -> None:
        from PySide6.QtCore import QTimer

        self.window = window
        self.runs = [RUN_A, RUN_B]
        self.log: list[tuple[float, str, float, float]] = []  # (start, name, wall s, GUI-thread CPU s)
        self.cycles = 0
        self._script = self._actions()
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._step)

    def _actions(self):  # noqa: ANN202 - a generator of (name, callable, delay after it in ms)
        w = self.window
        edit = w.search_page.query_edit
        picks = 0
        while True:
            yield "Datasets page", lambda: w.sidebar.setCurrentRow(0), ACTION_MS
            for _ in range(3):
                yield "scroll item grid", self._scroll, ACTION_MS
            yield "Training page", lambda: w.sidebar.setCurrentRow(1), ACTION_MS
            for _ in range(2):
                name = self.runs[picks % len(self.runs)]
                picks += 1
                yield f"select run {name}", lambda n=name: w.training_page.select(n), ACTION_MS
            yield "Search page", lambda: w.sidebar.setCurrentRow(2), ACTION_MS
            text = QUERIES[self.cycles % len(QUERIES)]
            yield "clear search box", edit.clear, TYPE_MS
            for ch in text:
                yield f"type '{text}'", lambda c=ch: edit.insert(c), TYPE_MS
            yield f"typed '{text}'", lambda: None, ACTION_MS + 350  # the debounced search runs
            self.cycles += 1

    def _scroll(self) -> None:
        bar = self.window.datasets_page.grid.verticalScrollBar()
        step = max(1, bar.pageStep() // 2)
        bar.setValue(0 if bar.value() >= bar.maximum() else min(bar.maximum(), bar.value() + step))

    def _step(self) -> None:
        name, action, delay = next(self._script)
        start, cpu = time.perf_counter(), time.thread_time()
        action()
        self.log.append((start, name, time.perf_counter() - start, time.thread_time() - cpu))
        self.timer.start(delay)

    def start(self) -> None:
        self.timer.start(0)

    def stop(self) -> None:
        self.timer.stop()


# ---- waiting with the event loop ---------------------------------------------------------------------------
def wait_until(condition: Any, timeout_s: float, what: str, poll_ms: int = 50) -> None:
    """Run the event loop until ``condition()`` is true (checked every ``poll_ms``); SystemExit on timeout."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s
    timed_out = []

    def check() -> None:
        if condition():
            loop.quit()
        elif time.monotonic() > deadline:
            timed_out.append(True)
            loop.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(poll_ms)
    loop.exec()
    timer.stop()
    if timed_out:
        raise SystemExit(f"error: timed out after {timeout_s:.0f} s waiting for {what}")


# ---- one phase ---------------------------------------------------------------------------------------------
def summarize(name: str, probe: StallProbe, actions: list[tuple[float, str, float, float]]) -> dict[str, Any]:
    ticks = np.asarray(probe.ticks)
    gaps = np.diff(ticks) * 1e3
    stalls = np.maximum(gaps - probe.interval_ms, 0.0)
    i = int(np.argmax(stalls))
    t0, t1 = ticks[i], ticks[i + 1]
    before = [a for a in actions if a[0] <= t1]
    last = before[-1] if before else None
    frames = Counter(s[2] for s in probe.samples if s[0] == i + 1)
    ours = Counter(culprit(s[2]) for s in probe.samples if s[0] == i + 1)
    during = [g for g in probe.gcs if g[0] < t1 and g[0] + g[1] > t0]
    worst = {
        "stall_ms": float(stalls[i]), "gap_ms": float(gaps[i]), "at_s": float(t0 - ticks[0]),
        "gui_cpu_ms": (probe.cpu_ns[i + 1] - probe.cpu_ns[i]) / 1e6,
        "gui_waiting_for_core_ms": (probe.wait_ns[i + 1] - probe.wait_ns[i]) / 1e6,
        "gc_ms": sum(g[1] for g in during) * 1e3,
        "gc_during": [{"ms": g[1] * 1e3, "generation": g[2], "gui_thread": g[3]} for g in during if g[1] > 1e-3],
        "last_action": last[1] if last else None,
        "last_action_started_ms_before_end": float((t1 - last[0]) * 1e3) if last else None,
        "last_action_ms": float(last[2] * 1e3) if last else None,
        "last_action_cpu_ms": float(last[3] * 1e3) if last else None,
        "last_action_started_in_gap": bool(last and last[0] > t0),
        "samples": sum(frames.values()),
        "top_frame": ours.most_common(1)[0][0] if ours else None,
        "top_stack": list(frames.most_common(1)[0][0]) if frames else [],
    }
    worst["gui_off_cpu_ms"] = max(0.0, worst["gap_ms"] - worst["gui_cpu_ms"] - worst["gui_waiting_for_core_ms"])
    dump = probe.dumps.get(i + 1)
    worst["watchdog"] = parse_dump(dump, probe.gui_ident) if dump else None
    over = np.flatnonzero(stalls > TARGET_MS)
    top = []
    for j in over[np.argsort(-stalls[over])][:10]:
        t_end = ticks[j + 1]
        act = [a for a in actions if a[0] <= t_end]
        seen = Counter(culprit(s[2]) for s in probe.samples if s[0] == j + 1)
        dump = probe.dumps.get(j + 1)
        top.append({"stall_ms": float(stalls[j]), "at_s": float(ticks[j] - ticks[0]),
                    "watchdog": describe_dump(parse_dump(dump, probe.gui_ident)) if dump else None,
                    "gui_cpu_ms": (probe.cpu_ns[j + 1] - probe.cpu_ns[j]) / 1e6,
                    "gui_waiting_for_core_ms": (probe.wait_ns[j + 1] - probe.wait_ns[j]) / 1e6,
                    "gc_ms": 1e3 * sum(g[1] for g in probe.gcs if g[0] < ticks[j + 1] and g[0] + g[1] > ticks[j]),
                    "last_action": act[-1][1] if act else None,
                    "top_frame": seen.most_common(1)[0][0] if seen else None})
    in_phase = [a for a in actions if ticks[0] <= a[0] <= ticks[-1]]
    slowest = max(in_phase, key=lambda a: a[2], default=None)
    gcs = [g for g in probe.gcs if ticks[0] <= g[0] <= ticks[-1]]
    return {
        "phase": name, "seconds": float(ticks[-1] - ticks[0]), "ticks": int(ticks.size),
        "interval_ms": probe.interval_ms, "p50_ms": float(np.percentile(stalls, 50)),
        "p99_ms": float(np.percentile(stalls, 99)), "max_ms": float(stalls.max()),
        "over_50ms": int(over.size), "over_16ms": int((stalls > 16.0).sum()),
        "over_50ms_gui_busy": sum(1 for j in over if (probe.cpu_ns[j + 1] - probe.cpu_ns[j]) / 1e6 > TARGET_MS),
        "gui_cpu_share": (probe.cpu_ns[-1] - probe.cpu_ns[0]) / 1e9 / max(1e-9, float(ticks[-1] - ticks[0])),
        "actions": len(in_phase),
        "slowest_action": {"name": slowest[1], "ms": slowest[2] * 1e3, "cpu_ms": slowest[3] * 1e3} if slowest
        else None,
        "gc": {"collections": len(gcs), "on_gui_thread": sum(1 for g in gcs if g[3]),
               "gen2": sum(1 for g in gcs if g[2] == 2), "max_ms": max((g[1] for g in gcs), default=0.0) * 1e3,
               "over_50ms": sum(1 for g in gcs if g[1] > TARGET_MS / 1e3)},
        "worst": worst, "stalls_over_50ms": top,
    }


def run_phase(name: str, probe: StallProbe, driver: Driver, until: Any, seconds: float | None,
              max_seconds: float) -> dict[str, Any]:
    print(f"phase {name}: measuring ...", flush=True)
    probe.start()
    start = time.monotonic()
    if seconds is not None:
        wait_until(lambda: time.monotonic() - start >= seconds, seconds + 60, f"the {name} phase")
    else:
        wait_until(until, max_seconds, f"the {name} phase's jobs to end")
    probe.stop()
    result = summarize(name, probe, driver.log)
    print(f"phase {name}: {result['seconds']:.1f} s, {result['ticks']} ticks, max stall {result['max_ms']:.1f} ms",
          flush=True)
    return result


# ---- report ------------------------------------------------------------------------------------------------
def worst_during(w: dict[str, Any]) -> str:
    """The scripted action that ran last before the worst stall ended: ``name (in it)`` when the action itself
    ran inside the gap, else ``name (+N ms)``, the stall beginning N ms after the action started."""
    if not w["last_action"]:
        return "-"
    if w["last_action_started_in_gap"]:
        return f"{w['last_action']} (in it)"
    return f"{w['last_action']} (+{w['last_action_started_ms_before_end'] - w['gap_ms']:.0f} ms)"


def gc_text(w: dict[str, Any]) -> str:
    if not w["gc_during"]:
        return f"GC {w['gc_ms']:.0f} ms"
    return "GC " + ", ".join(f"gen {g['generation']} {g['ms']:.0f} ms on {'the GUI' if g['gui_thread'] else 'a worker'}"
                             " thread" for g in w["gc_during"])


def print_table(phases: list[dict[str, Any]]) -> None:
    header = (f"| {'phase':<5} | {'seconds':>7} | {'ticks':>6} | {'p50 stall ms':>12} | {'p99 stall ms':>12} | "
              f"{'max stall ms':>12} | {'gaps >50 ms':>11} | {'worst during':<36} |")
    print()
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for p in phases:
        print(f"| {p['phase']:<5} | {p['seconds']:>7.1f} | {p['ticks']:>6} | {p['p50_ms']:>12.2f} | "
              f"{p['p99_ms']:>12.2f} | {p['max_ms']:>12.1f} | {p['over_50ms']:>11} | {worst_during(p['worst']):<36} |")
    print("(worst during: the scripted action that ran last before the worst stall; +N ms: the stall began N ms "
          "after it started; in it: the action ran inside the gap)")
    print()
    for p in phases:
        w = p["worst"]
        print(f"{p['phase']}: worst stall {w['stall_ms']:.0f} ms at {w['at_s']:.1f} s: GUI thread on a core "
              f"{w['gui_cpu_ms']:.0f} ms, waiting for a core {w['gui_waiting_for_core_ms']:.0f} ms, off the CPU "
              f"(GIL/lock/IO/idle) {w['gui_off_cpu_ms']:.0f} ms; {gc_text(w)}; {w['samples']} stack "
              f"samples, top: {w['top_frame'] or '-'}")
        if w["top_stack"]:
            print("    stack (innermost first): " + " <- ".join(w["top_stack"][:6]))
        if w.get("watchdog"):
            print(f"    every thread after {DUMP_MS} ms: {describe_dump(w['watchdog'])}")
        with_gc = sum(1 for t in p["stalls_over_50ms"] if t["gc_ms"] > TARGET_MS)
        print(f"    stalls > {TARGET_MS:.0f} ms: {p['over_50ms']}: {p['over_50ms_gui_busy']} with more than "
              f"{TARGET_MS:.0f} ms of GUI-thread CPU, {with_gc} of the 10 worst with more than {TARGET_MS:.0f} ms of "
              "garbage collection (it holds the GIL); the others mostly waited for a core")
        s = p["slowest_action"] or {"name": "-", "ms": 0.0, "cpu_ms": 0.0}
        print(f"    slowest scripted action: {s['name']} {s['ms']:.1f} ms ({s['cpu_ms']:.1f} ms CPU); GUI thread on a "
              f"core {100 * p['gui_cpu_share']:.0f}% of the phase; garbage collections {p['gc']['collections']}, "
              f"{p['gc']['gen2']} of generation 2, longest {p['gc']['max_ms']:.0f} ms")


def write_json(path: str | Path, result: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


# ---- main --------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default=None, help="workspace folder (default: a fresh temp dir)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the idle phase")
    ap.add_argument("--interval-ms", type=int, default=5, help="the probe timer's interval")
    ap.add_argument("--steps", type=int, default=150, help="steps of the training run of the load phase")
    ap.add_argument("--workers", type=int, default=2, help="loader workers of that run (the form's default: 2)")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="safety limit of the load phase")
    ap.add_argument("--platform", default="offscreen", help="Qt platform (another than offscreen needs a display)")
    ap.add_argument("--json", default="bench/results/gui_responsiveness.json")
    ap.add_argument("--keep", action="store_true", help="keep the temp workspace (and print where it is)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the load phase misses the target")
    args = ap.parse_args(argv)

    platform = args.platform
    if platform != "offscreen" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print(f"no DISPLAY: using the offscreen platform instead of {platform}", flush=True)
        platform = "offscreen"
    os.environ["QT_QPA_PLATFORM"] = platform
    scratch = Path(tempfile.mkdtemp(prefix="crossfold-gui-bench-"))
    os.environ["XDG_CONFIG_HOME"] = str(scratch / "config")  # the window's QSettings: not the user's
    workspace = Path(args.workspace).resolve() if args.workspace else scratch / "ws"
    log = scratch / "prepare.log"

    info = machine("cpu")
    print(f"machine: {describe(info)}", flush=True)
    try:
        print(f"preparing {workspace} (log: {log}) ...", flush=True)
        start = time.perf_counter()
        prep = prepare(workspace, log)
        prep["seconds"] = time.perf_counter() - start
        result = measure(args, workspace, platform, info, prep, scratch)
    finally:
        if args.keep:
            print(f"kept {scratch} (the workspace: {workspace})", flush=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    out = write_json(args.json, result)
    print(f"wrote {out}")
    return 1 if args.strict and not result["pass"] else 0


@dataclass
class Session:
    """The app's window on the workspace, and the QApplication it lives in (held for the whole measurement)."""

    qt_app: Any
    ws: Any
    window: Any

    @property
    def training(self) -> Any:
        return self.window.training_page

    @property
    def search(self) -> Any:
        return self.window.search_page


def open_window(workspace: Path) -> Session:
    """The app's ``MainWindow`` on ``workspace``, shown at 1400x900 (the offscreen plugin's chatter filtered)."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from app.heap import GuiThreadCollector
    from app.window import MainWindow
    from engine.workspace import Workspace

    def quiet(_mode: Any, _context: Any, message: str) -> None:  # the offscreen plugin says this on every show
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(quiet)
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("Crossfold")
    qt_app.setOrganizationName("Crossfold")
    GuiThreadCollector(qt_app).start()  # as app/main.py does
    ws = Workspace.open(workspace)
    window = MainWindow(ws)
    window.resize(1400, 900)
    window.show()
    return Session(qt_app, ws, window)


def warm_up(window: Any) -> tuple[Driver, float]:
    """Not measured: every page has its data, gui-a's searcher is loaded, one round of the script has run. The
    running driver and the seconds it took."""
    datasets, training, search = window.datasets_page, window.training_page, window.search_page
    print("warming up the window ...", flush=True)
    t_warm = time.perf_counter()
    answered: list[int] = []
    search.results_shown.connect(answered.append)
    wait_until(lambda: datasets.model.rowCount() > 0, 120, "the Datasets page's item grid")
    wait_until(lambda: training.runs.state(RUN_A) is not None and training.runs.state(RUN_B) is not None, 120,
               "the Training page's runs")
    wait_until(lambda: training.form.dataset.count() > 0 and bool(training.form.choices.models), 120,
               "the new-run form's choices")
    wait_until(lambda: search.run_combo.findData(RUN_A) >= 0, 120, "the Search page's runs")
    search.select_run(RUN_A)
    search.set_text(QUERIES[-1])
    search.search_now()
    wait_until(lambda: bool(answered), 180, f"a first search on {RUN_A}")
    driver = Driver(window)
    driver.start()
    wait_until(lambda: driver.cycles >= 1, 60, "one round of the scripted activity")
    warm_s = time.perf_counter() - t_warm
    print(f"warm in {warm_s:.1f} s", flush=True)
    return driver, warm_s


@dataclass
class LoadJobs:
    """The load phase's two jobs, a training run ``name`` launched from the form and the index of gui-b built
    from the Search page, and what the window's signals said of them."""

    name: str
    ended: dict[str, tuple[int, str]] = field(default_factory=dict)
    built: list[str] = field(default_factory=list)
    build_errors: list[str] = field(default_factory=list)
    form_errors: list[list[str]] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)

    def listen(self, training: Any, search: Any) -> None:
        name, ended, form_errors = self.name, self.ended, self.form_errors
        training.runs.jobFinished.connect(lambda n, code, err: ended.__setitem__(n, (code, err)) if n == name else None)
        search.index_built.connect(self.built.append)
        search.index_failed.connect(self.build_errors.append)
        training.form.validated.connect(lambda errs: form_errors.append(errs) if errs else None)
        training.launched.connect(self.launched.append)

    def start(self, args: argparse.Namespace, training: Any, search: Any) -> None:
        from app.search_worker import IndexNeeded

        form = training.form
        form.dataset.setCurrentText(DATASET)
        form.loss.setCurrentText("mxm")
        form.model.setCurrentText(MODEL)
        form.length_unit.setCurrentText("steps")
        form.length.setValue(args.steps)
        form.batch.setValue(16)
        form.device.setCurrentText("cpu")
        form.name.setText(self.name)
        form.val_every.setValue(max(1, args.steps // 3))
        form.save_every.setValue(max(1, args.steps // 3))
        form.workers.setValue(args.workers)
        form.launch()  # checks the values on a worker, then the page starts and follows the run
        need = IndexNeeded(RUN_B, "shapes", DATASET, f"Run {RUN_B} has no shapes index of {DATASET} yet.")
        if not search.build_index(need):
            self.build_errors.append("SearchPage.build_index refused to start")

    def both_ended(self) -> bool:  # (a slot: it must not raise)
        return bool(self.form_errors) or ((self.name in self.ended) and bool(self.built or self.build_errors))

    def kill(self, ws: Any, training: Any, search: Any) -> None:
        """Stop the jobs rather than leave them running."""
        for job in (training.runs.jobs.job(ws, self.name), search.build_job):
            if job is not None and job.running:
                job.kill()  # a detached training run is killed by pid; an index build is a QProcess child
                if hasattr(job, "process"):
                    job.process.waitForFinished(10_000)


def run_load_phase(args: argparse.Namespace, session: Session, probe: StallProbe,
                   driver: Driver) -> tuple[dict[str, Any], LoadJobs, float]:
    """The load phase: a training run from the form and the index of gui-b from the Search page, measured until
    both have ended. The phase, its jobs and its seconds."""
    from PySide6.QtCore import QTimer

    training, search = session.training, session.search
    jobs = LoadJobs(f"gui-load-{time.strftime('%Y%m%d-%H%M%S')}")
    jobs.listen(training, search)
    t_load = time.perf_counter()
    driver.runs = [jobs.name, RUN_A, jobs.name, RUN_B]
    QTimer.singleShot(0, lambda: jobs.start(args, training, search))
    try:
        phase = run_phase("load", probe, driver, jobs.both_ended, None, args.max_seconds)
    except SystemExit:  # timed out: stop the jobs rather than leave them running
        jobs.kill(session.ws, training, search)
        raise
    if jobs.form_errors:
        raise SystemExit(f"error: the new-run form refused the run: {jobs.form_errors[-1]}")
    load_s = time.perf_counter() - t_load
    driver.stop()
    probe.close()
    return phase, jobs, load_s


def check_jobs(session: Session, jobs: LoadJobs, run_b_id: int, load_s: float) -> tuple[dict[str, Any], bool]:
    """Did both jobs really work? Their record for the JSON, and whether both succeeded."""
    from app.search_worker import index_needed
    from engine.index import registry

    name, built, build_errors = jobs.name, jobs.built, jobs.build_errors
    cat = session.ws.catalog()
    run = cat.run(name)
    code, err = jobs.ended[name]
    state = session.training.runs.state(name)
    rows = registry.rows(cat, run_id=run_b_id)  # none before the phase: prepare() removed them
    record = {
        "training": {"run": name, "launched_from_form": name in jobs.launched, "exit_code": code, "error": err,
                     "status": run.status if run else None, "steps": state.step if state else None,
                     "total": state.total if state else None,
                     "loss_points": len(state.loss_points) if state else None},
        "index": {"run": RUN_B, "built": bool(built), "error": build_errors[-1] if build_errors else "",
                  "rows": {r.modality: r.count for r in rows},
                  "searchable": index_needed(cat, RUN_B, "shapes") is None},
        "load_phase_s": load_s,
    }
    cat.close()
    ok_train = code == 0 and run is not None and run.status == "done"
    ok_index = bool(built) and not build_errors and record["index"]["searchable"] and bool(rows)
    t = record["training"]
    print(f"\ntraining {name} (from the form: {t['launched_from_form']}): exit {code}, status {t['status']}, "
          f"{t['steps']}/{t['total']} steps -> {'OK' if ok_train else 'FAILED'}")
    print(f"index of {RUN_B} from the Search page: {'built' if built else 'not built'}, rows "
          f"{record['index']['rows']} -> {'OK' if ok_index else 'FAILED'}"
          + (f": {build_errors[-1]}" if build_errors else ""))
    return record, ok_train and ok_index


def close_window(session: Session) -> None:
    from PySide6.QtCore import QSettings

    session.search.shutdown()
    session.training.shutdown()
    session.search.service.wait_idle(30_000)
    session.window.close()
    QSettings("Crossfold", "Crossfold").sync()  # written now, not at exit: main() removes the temp config dir


def report(phases: list[dict[str, Any]], info: dict) -> bool:
    """The table, the verdict on the target and the load average at the end (added to ``info``); passed?"""
    print_table(phases)
    load = phases[-1]
    passed = load["max_ms"] <= TARGET_MS
    print(f"\ntarget: max stall <= {TARGET_MS:.0f} ms while training and indexing: {'PASS' if passed else 'FAIL'} "
          f"(load max {load['max_ms']:.1f} ms; idle max {phases[0]['max_ms']:.1f} ms)")
    info["load_average_1min_at_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(f"load average at the end: {info['load_average_1min_at_end']} (other processes on 2 cores add stalls: "
          "see 'waiting for a core')")
    return passed


def measure(args: argparse.Namespace, workspace: Path, platform: str, info: dict, prep: dict,
            scratch: Path) -> dict[str, Any]:
    session = open_window(workspace)
    driver, warm_s = warm_up(session.window)
    probe = StallProbe(args.interval_ms, scratch / "stall-dumps.txt")
    phases = [run_phase("idle", probe, driver, None, args.seconds, args.max_seconds)]

    cat = session.ws.catalog()
    run_b_id = cat.require_run(RUN_B).id
    cat.close()
    load, jobs, load_s = run_load_phase(args, session, probe, driver)
    phases.append(load)
    record, ok = check_jobs(session, jobs, run_b_id, load_s)
    close_window(session)

    passed = report(phases, info)
    if not ok:
        raise SystemExit("error: a job of the load phase did not succeed (see above); no result written")
    return {
        "benchmark": "gui_responsiveness", "machine": info,
        "config": {**vars(args), "workspace": str(workspace), "platform": platform, "action_ms": ACTION_MS,
                   "type_ms": TYPE_MS, "queries": QUERIES, "window": [1400, 900]},
        "target_max_stall_ms": TARGET_MS, "preparation": prep, "warmup_s": warm_s,
        "phases": phases, "jobs": record, "pass": passed,
    }


if __name__ == "__main__":
    sys.exit(main())
