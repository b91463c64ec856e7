"""Whether a pid is still a given process: real processes, live, zombie and gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from engine.processes import SAME_START_S, live_process


def test_this_process_is_live_with_its_start_time_and_command_line() -> None:
    me = live_process(os.getpid())
    assert me is not None and me.pid == os.getpid()
    assert me.started is not None and me.started <= time.time()
    assert me.started_at(me.started) and not me.started_at(me.started + 2 * SAME_START_S)
    assert me.runs("python", "pytest") and not me.runs("no-such-program-name")


def test_no_pid_a_zombie_and_a_gone_process_are_not_live() -> None:
    assert live_process(0) is None and live_process(-1) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet: a zombie
    assert live_process(child.pid) is None
    child.wait(timeout=60)
    assert live_process(child.pid) is None  # reaped: gone (unless the pid was given again at once)
