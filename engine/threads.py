"""How many CPU threads a Crossfold engine job may use: its share of the cores, shared with the other jobs.

Three inputs decide the share:

* the cores this process may run on: its CPU affinity (``os.sched_getaffinity``), capped by the cgroup's CPU
  quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) — a container with two CPUs' quota on
  a 64-core host has two cores, not 64 (:func:`available_cores`);
* the Crossfold engine jobs running in the same workspace: each registers itself with a small file
  ``<pid>.json`` in the workspace's jobs folder (:attr:`engine.workspace.Workspace.jobs`) while it runs
  (:func:`register_job`; ``trainer`` does it for its heavy commands, so the app's trainings, index builds, renders
  and imports are all counted). A file whose process is gone (or whose pid now belongs to another process: the
  start time recorded with it differs, or that process is not a ``trainer``) is ignored and removed, and so is
  a file that cannot be read or holds no plausible record (:func:`live_jobs`);
* the result: ``cores // live jobs`` (at least 1) — two trainings on 2 cores get one core each instead of
  each running two threads and thrashing (:func:`job_cores`).

:func:`quiet_openmp` sets ``OMP_WAIT_POLICY=PASSIVE`` and ``KMP_BLOCKTIME=0`` (unless already set) so that idle
OpenMP threads sleep instead of spinning on cores another job needs; set before torch is imported it holds for
this process, and always for the processes it starts (DataLoader workers, torchrun ranks).

:func:`plan_training` turns the share into torch's intra-op threads and the data loader's worker processes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.atomic import write_atomic
from engine.processes import PID_MAX, LiveProcess, live_process

OPENMP_QUIET = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}

_registered: Path | None = None  # the jobs folder this process registered in (job_cores() reads it)


# ------------------------------------------------------------------------------------------------- cores


def affinity_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cgroup_cpu_limit(root: Path = Path("/")) -> float | None:
    """CPUs allowed by this process's cgroup quota (e.g. 1.5), or None when there is no quota.

    ``root`` is the filesystem root holding ``proc/self/cgroup`` and ``sys/fs/cgroup`` (a test points it at a
    folder of its own). The tightest quota of the cgroup and its ancestors wins (v2); v1 reads the ``cpu``
    controller's quota and period.
    """
    fs = root / "sys" / "fs" / "cgroup"
    try:
        lines = (root / "proc" / "self" / "cgroup").read_text().splitlines()
    except OSError:
        lines = []
    limits: list[float] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.strip().lstrip("/")
        if controllers == "":  # v2 unified hierarchy
            for folder in _self_and_parents(fs, rel):
                limit = _read_cpu_max(folder / "cpu.max")
                if limit is not None:
                    limits.append(limit)
        elif "cpu" in controllers.split(","):  # v1
            for mount in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"):
                base = fs / mount
                if not base.is_dir():
                    continue
                for folder in _self_and_parents(base, rel):
                    limit = _read_v1_quota(folder)
                    if limit is not None:
                        limits.append(limit)
                break
    if not lines and (fs / "cpu.max").is_file():  # no /proc (unusual): the mounted root cgroup
        limit = _read_cpu_max(fs / "cpu.max")
        if limit is not None:
            limits.append(limit)
    return min(limits) if limits else None


def _self_and_parents(base: Path, rel: str) -> Iterator[Path]:
    parts = [p for p in rel.split("/") if p]
    for n in range(len(parts), -1, -1):
        yield base.joinpath(*parts[:n])


def _read_cpu_max(path: Path) -> float | None:
    try:
        fields = path.read_text().split()
    except OSError:
        return None
    if len(fields) < 1 or fields[0] == "max":
        return None
    try:
        quota = float(fields[0])
        period = float(fields[1]) if len(fields) > 1 else 100_000.0
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read_v1_quota(folder: Path) -> float | None:
    try:
        quota = float((folder / "cpu.cfs_quota_us").read_text().strip())
        period = float((folder / "cpu.cfs_period_us").read_text().strip())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cores(root: Path = Path("/"), affinity: int | None = None) -> int:
    """Cores this process can really use: its affinity, capped by the cgroup quota (rounded down, at least 1)."""
    cores = affinity if affinity is not None else affinity_cores()
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit + 1e-9)))
    return max(1, cores)


# ------------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class JobRecord:
    pid: int
    kind: str  # train | index | render | import | evaluate | pack | ...
    started: float  # time.time() at registration
    created: float | None  # the process's start time, seconds since the epoch (guards against a reused pid)


def _alive(record: JobRecord) -> bool:
    """Whether the record's process still runs: its pid is live, that process started when the record says, and
    it is this process or a ``trainer`` (the console script, or a Python running ``-m trainer``).

    A record without a start time (an older version's, which kept ``proc_start`` in /proc clock ticks instead)
    cannot be told from a reused pid: it counts as gone, and is pruned.
    """
    proc = live_process(record.pid)
    if proc is None or record.created is None or not proc.started_at(record.created):
        return False
    return record.pid == os.getpid() or _runs_trainer(proc)


def _runs_trainer(proc: LiveProcess) -> bool:
    """Whether the process runs ``trainer``: an argument that is the console script, or ``-m trainer``."""
    args = proc.cmdline or ()
    for i, arg in enumerate(args):
        if os.path.basename(arg) in ("trainer", "trainer.exe") or arg in ("-mtrainer", "-mtrainer.cli"):
            return True
        if arg == "-m" and i + 1 < len(args) and args[i + 1] in ("trainer", "trainer.cli"):
            return True
    return False


def _record(path: Path) -> JobRecord | None:
    """The job record in ``path``, or None when it cannot be read or is not plausible: a JSON object naming the
    pid of its file name (a whole number a system can give), with finite times."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    pid, kind, started, created = data.get("pid"), data.get("kind", ""), data.get("started", 0.0), data.get("created")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= PID_MAX or path.stem != str(pid):
        return None
    if not isinstance(kind, str) or not all(_finite(v) for v in (started, *([] if created is None else [created]))):
        return None
    return JobRecord(pid, kind, float(started), float(created) if created is not None else None)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def write_job(folder: Path, kind: str, pid: int | None = None) -> Path:
    """Record job ``pid`` (default: this process) in ``folder``; written whole (temp file + rename)."""
    pid = os.getpid() if pid is None else pid
    folder.mkdir(parents=True, exist_ok=True)
    proc = live_process(pid)
    record = JobRecord(pid, kind, round(time.time(), 3), proc.started if proc is not None else None)
    return write_atomic(folder / f"{pid}.json", json.dumps(asdict(record)))


def live_jobs(folder: Path, prune: bool = True) -> list[JobRecord]:
    """The registered jobs whose processes still run; stale, unreadable and implausible files are removed when
    ``prune``."""
    found: list[JobRecord] = []
    try:
        entries = list(Path(folder).glob("*.json"))
    except OSError:
        return found
    for path in entries:  # written whole (temp file + rename): a file that does not parse is damaged, not new
        record = _record(path)
        if record is not None and _alive(record):
            found.append(record)
        elif prune:
            with contextlib.suppress(OSError):
                path.unlink()
    return sorted(found, key=lambda r: r.pid)


@contextlib.contextmanager
def register_job(folder: Path, kind: str) -> Iterator[Path]:
    """Register this process as a running engine job in ``folder`` (its workspace's jobs folder,
    :attr:`engine.workspace.Workspace.jobs`) for the duration of the block.

    Re-entrant: an inner registration of the same process (``trainer train`` calling the engine's ``train``)
    leaves the outer one's file alone.
    """
    global _registered
    path = folder / f"{os.getpid()}.json"
    owner = not path.exists()
    if owner:
        write_job(folder, kind)
    previous, _registered = _registered, folder
    try:
        yield path
    finally:
        _registered = previous
        if owner:
            with contextlib.suppress(OSError):
                path.unlink()


def job_cores(folder: Path | None = None, root: Path = Path("/"), cores: int | None = None) -> int:
    """This job's share of the cores: available cores // live jobs (this one included), at least 1.

    ``folder``: the jobs folder (default: the one this process registered in; none registered: no sharing).
    """
    cores = available_cores(root) if cores is None else cores
    folder = folder if folder is not None else _registered
    if folder is None:
        return cores
    jobs = live_jobs(folder)
    n = len(jobs) + (0 if any(j.pid == os.getpid() for j in jobs) else 1)
    return max(1, cores // max(1, n))


# ------------------------------------------------------------------------------------------------- policy


def quiet_openmp(environ: MutableMapping[str, str] | None = None) -> None:
    """Idle OpenMP threads sleep instead of spinning (this process if torch is not loaded yet, and children)."""
    env = os.environ if environ is None else environ
    for key, value in OPENMP_QUIET.items():
        env.setdefault(key, value)


def user_thread_cap(environ: MutableMapping[str, str] | None = None) -> int | None:
    """``OMP_NUM_THREADS`` when the user set it to a whole number: a cap on the threads a job takes."""
    env = os.environ if environ is None else environ
    try:
        value = int(env.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


@dataclass(frozen=True)
class ThreadPlan:
    """torch intra-op threads and DataLoader worker processes for one training process."""

    cores: int  # this job's share
    threads: int
    workers: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_training(share: int, requested_workers: int, decode: bool, cap: int | None = None) -> ThreadPlan:
    """Threads and workers from this job's core share.

    ``decode``: batches come from image files that must be decoded (PNG): up to ``requested_workers`` worker
    processes, at most half the share (at least 1 when any were asked for), while the step keeps every core of
    the share (workers wait on I/O and the OS interleaves them; idle OpenMP threads sleep). The packed store
    needs no decoding: no worker processes (a thread gathers the next batch), the step gets the share.
    ``cap`` (the user's ``OMP_NUM_THREADS``) bounds the step's threads.
    """
    share = max(1, share)
    threads = min(share, cap) if cap else share
    if not decode or requested_workers <= 0:
        return ThreadPlan(share, threads, 0)
    workers = min(requested_workers, max(1, share // 2))
    return ThreadPlan(share, threads, workers)


def one_torch_thread() -> None:
    """One intra-op thread for this thread's torch work (a query is one small forward pass: one thread answers it
    as fast, see ``bench/search.py``, and leaves the other cores to the GUI and to training). Called on the worker
    thread itself: with OpenMP the limit is per thread."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
