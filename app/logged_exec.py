"""``python -m app.logged_exec LOG [--env K=V]... [--header TEXT] -- PROGRAM [ARGS...]``.

Replaces this process (``exec``: the pid stays the same) with ``PROGRAM ARGS``, its stdin read from the null
device and its stdout and stderr appended to ``LOG`` (the folder is created). A first line ``$ TEXT  [pid N,
date]`` is appended to the log before, so a log holding several attempts (a run resumed) is easy to read.

The app starts detached training runs through it (:mod:`app.detached`): PySide6's static
``QProcess.startDetached(program, arguments, workingDirectory)`` returns the pid but can neither redirect the
output nor set the environment, and its instance method, which can, returns no pid. Standard library only: it
runs before the trainer, on every launch.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

USAGE = "usage: python -m app.logged_exec LOG [--env K=V]... [--header TEXT] -- PROGRAM [ARGS...]"


def parse(argv: Sequence[str]) -> tuple[Path, dict[str, str], str, list[str]]:
    args = list(argv)
    if "--" not in args or args.index("--") < 1:
        raise ValueError(USAGE)
    cut = args.index("--")
    options, command = args[:cut], args[cut + 1:]
    if not command:
        raise ValueError(USAGE)
    log, rest = Path(options[0]), options[1:]
    env: dict[str, str] = {}
    header = ""
    while rest:
        flag = rest.pop(0)
        if not rest or flag not in ("--env", "--header"):
            raise ValueError(USAGE)
        value = rest.pop(0)
        if flag == "--header":
            header = value
        else:
            key, sep, val = value.partition("=")
            if not key or not sep:
                raise ValueError(f"--env wants KEY=VALUE, not {value!r}")
            env[key] = val
    return log, env, header, command


def main(argv: Sequence[str] | None = None) -> int:
    try:
        log, env, header, command = parse(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as exc:
        print(f"cannot open the log {log}: {exc}", file=sys.stderr)
        return 126
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(fd, f"$ {header or shlex.join(command)}  [pid {os.getpid()}, {stamp}]\n".encode())
    null = os.open(os.devnull, os.O_RDONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(null)
    os.close(fd)
    os.environ.update(env)
    try:
        os.execv(command[0], command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc}", file=sys.stderr)  # into the log
        return 127
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
