"""``trainer`` as the CLI tests run it: in this process by default, as a real child process where that is the point.

A child costs about three seconds of interpreter and torch start-up on CI's two cores; the suite runs a few hundred
commands, so most tests call :func:`trainer.cli.main` here, with the same arguments, the output captured and the
exit code taken from its return (or ``SystemExit``). Anything that escapes ``main`` is what a user would see as a
traceback: it is written to the captured stderr as one (``Traceback (most recent call last): ...``) with exit code
1, so ``assert "Traceback" not in done.stderr`` holds for both ways. ``child=True`` runs ``python -m trainer`` for
the tests whose point is a real process (its exit status, its stderr as printed, signals).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["ROOT", "run_trainer"]

ROOT = Path(__file__).resolve().parents[1]
#: what every child gets: unbuffered output, one OpenMP thread, no model hub
CHILD_ENV = {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _in_process(argv: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    from trainer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = int(main(argv) or 0)
        except SystemExit as exc:  # argparse's refusals and --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            if isinstance(exc.code, str):
                err.write(exc.code + "\n")
        except Exception:  # noqa: BLE001 - a traceback is what the user would see: the tests assert on it
            err.write(traceback.format_exc())
            code = 1
    return code, out.getvalue(), err.getvalue()


def run_trainer(*args: str | os.PathLike[str], ws: Path | None = None, env: Mapping[str, str] | None = None,
                child: bool = False, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``trainer ARGS [--workspace WS]``: its exit code, stdout and stderr as a :class:`subprocess.CompletedProcess`.

    ``env``: variables set for the command (on top of the environment); ``child``: run it as ``python -m trainer``.
    """
    argv = [os.fspath(a) for a in args] + (["--workspace", str(ws)] if ws is not None else [])
    if child:
        full_env = {**os.environ, **CHILD_ENV, **(env or {})}
        return subprocess.run([sys.executable, "-m", "trainer", *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout, env=full_env)
    code, out, err = _in_process(argv, {"HF_HUB_OFFLINE": "1", **(env or {})})
    return subprocess.CompletedProcess(["trainer", *argv], code, out, err)
