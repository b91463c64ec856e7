"""Is a run's recorded pid still its trainer? (``/proc`` where there is one; ``kill(pid, 0)`` elsewhere.)"""

from __future__ import annotations

import os
from pathlib import Path

#: A process whose command line holds none of these is not a trainer (its pid was recycled).
TRAINER_WORDS = (b"trainer", b"python", b"crossfold", b"torchrun")


def process_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live (not zombie) process that looks like a trainer (a Python process)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    try:
        stat = (proc / str(pid) / "stat").read_text()
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[:1]
    if state and state[0] in ("Z", "X"):
        return False
    return any(word in cmdline for word in TRAINER_WORDS)
