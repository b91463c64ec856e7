"""The thread budget: cores from affinity and cgroup quotas (fake trees in tmp_path), shared between live jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.processes import live_process
from engine.threads import (
    available_cores,
    cgroup_cpu_limit,
    job_cores,
    live_jobs,
    plan_training,
    quiet_openmp,
    register_job,
    user_thread_cap,
    write_job,
)
from engine.workspace import Workspace


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cgroup_v2_quota_of_the_process_or_an_ancestor(tmp_path: Path) -> None:
    root = _tree(tmp_path / "a", {"proc/self/cgroup": "0::/user.slice/job\n",
                                  "sys/fs/cgroup/cpu.max": "max 100000\n",
                                  "sys/fs/cgroup/user.slice/cpu.max": "300000 100000\n",
                                  "sys/fs/cgroup/user.slice/job/cpu.max": "150000 100000\n"})
    assert cgroup_cpu_limit(root) == 1.5
    assert available_cores(root, affinity=8) == 1
    parent_only = _tree(tmp_path / "b", {"proc/self/cgroup": "0::/job\n",
                                         "sys/fs/cgroup/cpu.max": "200000 100000\n",
                                         "sys/fs/cgroup/job/cpu.max": "max 100000\n"})
    assert available_cores(parent_only, affinity=16) == 2
    assert available_cores(parent_only, affinity=1) == 1  # the affinity is tighter


def test_cgroup_v1_quota_and_no_quota(tmp_path: Path) -> None:
    v1 = _tree(tmp_path / "v1", {"proc/self/cgroup": "5:memory:/x\n4:cpu,cpuacct:/docker/abc\n0::/\n",
                                 "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
                                 "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cpu_limit(v1) == 3.0
    assert available_cores(v1, affinity=64) == 3
    unlimited = _tree(tmp_path / "none", {"proc/self/cgroup": "4:cpu,cpuacct:/\n",
                                          "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                                          "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cpu_limit(unlimited) is None
    assert available_cores(unlimited, affinity=6) == 6
    assert available_cores(tmp_path / "empty", affinity=3) == 3  # no /proc, no cgroup files


def test_live_jobs_split_the_cores_and_dead_ones_are_ignored(tmp_path: Path) -> None:
    folder = Workspace(tmp_path).jobs
    assert job_cores(folder, cores=4) == 4  # nobody else: all of them
    # another engine job: a real `trainer` process (as the console script runs), alive until we close its stdin
    script = tmp_path / "trainer"
    script.write_text("import sys\nsys.stdin.read()\n")
    other = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE)
    try:
        write_job(folder, "index", pid=other.pid)
        with register_job(folder, "train") as mine:
            assert mine.is_file()
            assert sorted(j.pid for j in live_jobs(folder)) == sorted([os.getpid(), other.pid])
            assert job_cores(folder, cores=4) == 2
            assert job_cores(folder, cores=3) == 1
            assert job_cores(folder, cores=1) == 1  # never below one
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=60)
    assert not (folder / f"{os.getpid()}.json").exists()  # unregistered at exit
    # the other process is gone: its record is stale, ignored and pruned
    assert live_jobs(folder) == []
    assert not (folder / f"{other.pid}.json").exists()
    assert job_cores(folder, cores=4) == 4


def test_a_reused_pid_is_not_a_live_job(tmp_path: Path) -> None:
    folder = Workspace(tmp_path).jobs
    path = write_job(folder, "train")  # this process, with its real start time
    assert [j.pid for j in live_jobs(folder, prune=False)] == [os.getpid()]
    record = json.loads(path.read_text())
    if record["created"] is not None:  # a different start time means another process took the pid
        record["created"] = record["created"] + 60
        path.write_text(json.dumps(record))
        assert live_jobs(folder) == []
    (folder / "garbage.json").write_text("{not json")
    assert live_jobs(folder) == [] and not (folder / "garbage.json").exists()  # unreadable: ignored and removed


def test_implausible_job_files_and_processes_that_are_not_ours_are_pruned(tmp_path: Path) -> None:
    """A pid no system gives, a record of another file's pid, a non-number, and pid 1 with its real start time (a
    live process, but not a trainer): none counts, each file is removed, and this job keeps all its cores."""
    folder = Workspace(tmp_path).jobs
    folder.mkdir(parents=True)
    init = live_process(1)
    files = {"1180591620717411303424.json": {"pid": 2**70, "created": 1.0},
             "7.json": {"pid": 8, "created": 1.0}, "9.json": {"pid": "9", "created": 1.0},
             "10.json": {"pid": 10, "created": float("nan")}, "11.json": [11],
             "1.json": {"pid": 1, "kind": "train", "started": 1.0, "created": init.started if init else 1.0}}
    for file, record in files.items():
        (folder / file).write_text(json.dumps(record))
    with register_job(folder, "index"):
        assert [j.pid for j in live_jobs(folder)] == [os.getpid()]
        assert job_cores(folder, cores=4) == 4
    assert list(folder.iterdir()) == []


def test_a_record_of_an_older_version_is_pruned(tmp_path: Path) -> None:
    folder = Workspace(tmp_path).jobs
    folder.mkdir(parents=True)
    old = folder / f"{os.getpid()}.json"  # an older version kept /proc clock ticks, which cannot be checked now
    old.write_text(json.dumps({"pid": os.getpid(), "kind": "train", "started": 1.0, "proc_start": "12345"}))
    assert live_jobs(folder) == []
    assert not old.exists()


def test_register_job_is_reentrant(tmp_path: Path) -> None:
    folder = Workspace(tmp_path).jobs
    with register_job(folder, "train") as outer:
        with register_job(folder, "train") as inner:
            assert inner == outer
        assert outer.is_file()  # the inner one did not remove the outer registration
    assert not outer.exists()


def test_plan_and_environment() -> None:
    assert plan_training(2, requested_workers=2, decode=True).as_dict() == {"cores": 2, "threads": 2, "workers": 1}
    assert plan_training(8, requested_workers=2, decode=True).workers == 2
    assert plan_training(8, requested_workers=8, decode=True).workers == 4
    assert plan_training(1, requested_workers=2, decode=True).workers == 1
    assert plan_training(4, requested_workers=0, decode=True).workers == 0
    assert plan_training(4, requested_workers=2, decode=False).as_dict() == {"cores": 4, "threads": 4, "workers": 0}
    assert plan_training(4, requested_workers=2, decode=False, cap=1).threads == 1
    env: dict[str, str] = {"KMP_BLOCKTIME": "5"}
    quiet_openmp(env)
    assert env == {"KMP_BLOCKTIME": "5", "OMP_WAIT_POLICY": "PASSIVE"}  # what the user set stays
    assert user_thread_cap({"OMP_NUM_THREADS": "3"}) == 3
    assert user_thread_cap({"OMP_NUM_THREADS": "x"}) is None
    assert user_thread_cap({}) is None
