"""Render many meshes through the cache with a pool of worker processes.

Each worker keeps one GL context (one ``pyrender.OffscreenRenderer``) for all its meshes. The pool is
ours rather than ``concurrent.futures``: every worker has its own pipe and is given one mesh at a time,
so when a worker dies (a loader segfaults, the OOM killer strikes) we know exactly which mesh it was
on, report that mesh as failed, start a replacement worker and carry on with the rest.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from engine.disk import fault_error, fault_of
from engine.render.cache import RenderCache
from engine.render.mesh import MeshError, check_mesh_file
from engine.render.platform import RenderBackendError, configure_gl_platform
from engine.render.spec import ViewSpec

ProgressCallback = Callable[[int, int], None]

DEFAULT_TIMEOUT_S = 600.0
# Fault injection for the tests: a worker asked to render a file with exactly this name kills itself
# with SIGSEGV, as a crashing native loader would.
CRASH_ON_NAME_ENV = "CROSSFOLD_RENDER_CRASH_ON_NAME"


@dataclass(frozen=True)
class RenderOutcome:
    """The views of one mesh (cache paths, in view order) or why there are none."""

    mesh_path: Path
    views: list[Path]
    error: str | None
    cached: bool

    @property
    def ok(self) -> bool:
        return self.error is None


def render_many(
    mesh_paths: Sequence[Path],
    spec: ViewSpec,
    cache_root: Path,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    roots: Sequence[Path] = (),
) -> list[RenderOutcome]:
    """Render every mesh into the cache at ``cache_root``; one outcome per input, in input order.

    ``roots``: the folders the meshes were imported from; their side files (materials, textures) are read from
    inside them only (none given: from below each mesh's own folder).

    Meshes already in the cache are answered without starting workers. A mesh that cannot be read,
    has no faces, crashes its worker process or takes longer than ``timeout_s`` gets an outcome with
    ``error`` set; the others still render. Raises :class:`RenderBackendError` if the workers cannot
    create a GL context at all, and :class:`~engine.disk.DiskFull` (or ``ReadOnlyWorkspace``) when the cache
    cannot be written: the views stored before stay. ``on_progress(done, total)`` is called in this process.
    """
    paths = [Path(p) for p in mesh_paths]
    total = len(paths)
    if workers is None:
        from engine.threads import job_cores

        workers = job_cores()  # this job's share of the cores
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    cache = RenderCache(cache_root)
    outcomes: list[RenderOutcome | None] = [None] * total
    todo: dict[str, list[int]] = {}  # digest -> input positions (the same file twice renders once)
    for i, path in enumerate(paths):
        try:
            check_mesh_file(path)  # an empty or misnamed file needs no worker to be rejected
            digest = cache.digest(path)
        except MeshError as exc:
            outcomes[i] = RenderOutcome(path, [], str(exc), cached=False)
            continue
        found = cache.lookup_digest(digest, spec)
        if found is not None:
            outcomes[i] = RenderOutcome(path, found, None, cached=True)
        else:
            todo.setdefault(digest, []).append(i)
    done = total - sum(len(v) for v in todo.values())
    if on_progress is not None and done:
        on_progress(done, total)

    if todo:
        tasks = deque((digest, paths[positions[0]]) for digest, positions in todo.items())
        pool = _Pool(min(workers, len(tasks)), cache.root, spec, timeout_s, tuple(Path(r) for r in roots))
        try:
            for digest, views, error in pool.run(tasks):
                for i in todo[digest]:
                    outcomes[i] = RenderOutcome(paths[i], views, error, cached=False)
                done += len(todo[digest])
                if on_progress is not None:
                    on_progress(done, total)
        finally:
            pool.close()
    return [o for o in outcomes if o is not None]


# ---- the pool (parent side) -------------------------------------------------------------------


class _Worker:
    def __init__(self, ctx: Any, cache_root: Path, spec: ViewSpec, roots: tuple[Path, ...]) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_worker_main, args=(child, str(cache_root), spec, roots), daemon=True, name="crossfold-render"
        )
        self.process.start()
        child.close()
        self.task: tuple[str, Path] | None = None
        self.started = 0.0
        self.ready = False  # the worker said hello: it got past imports and spawn bootstrapping

    def give(self, task: tuple[str, Path]) -> None:
        self.task = task
        self.started = time.monotonic()
        self.conn.send((task[0], str(task[1])))

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class _Pool:
    def __init__(
        self, size: int, cache_root: Path, spec: ViewSpec, timeout_s: float | None, roots: tuple[Path, ...] = ()
    ) -> None:
        # spawn: a fork would copy this process's threads and any GL state into the worker.
        self._ctx = mp.get_context("spawn")
        self._cache_root = cache_root
        self._spec = spec
        self._roots = roots
        self._timeout_s = timeout_s
        self._workers: list[_Worker] = []
        try:
            for _ in range(size):
                self._workers.append(_Worker(self._ctx, cache_root, spec, roots))
        except BaseException:
            self.close()
            raise

    def _replace(self, dead: _Worker) -> _Worker:
        dead.kill()
        fresh = _Worker(self._ctx, self._cache_root, self._spec, self._roots)
        self._workers[self._workers.index(dead)] = fresh
        return fresh

    def _give(self, worker: _Worker, task: tuple[str, Path]) -> None:
        if worker.process.is_alive():
            try:
                worker.give(task)
                return
            except OSError:  # it died just now, between its last answer and this task
                pass
        self._replace(worker).give(task)

    def run(self, tasks: deque[tuple[str, Path]]) -> Iterator[tuple[str, list[Path], str | None]]:
        """(digest, views, error) for every task, in the order they finish."""
        for worker in list(self._workers):
            if tasks:
                self._give(worker, tasks.popleft())
        while any(w.task is not None for w in self._workers):
            busy = [w for w in self._workers if w.task is not None]
            waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            wait(waitables, timeout=self._poll_interval(busy))
            for worker in busy:
                result = self._collect(worker)
                if result is None:
                    continue
                yield result
                if tasks:
                    self._give(worker, tasks.popleft())

    def _poll_interval(self, busy: list[_Worker]) -> float | None:
        if self._timeout_s is None:
            return None
        now = time.monotonic()
        return max(0.0, min(w.started + self._timeout_s - now for w in busy)) + 0.05

    def _collect(self, worker: _Worker) -> tuple[str, list[Path], str | None] | None:
        """The worker's finished task, a failure if it died or timed out, or None if still busy."""
        assert worker.task is not None
        digest, path = worker.task
        while True:
            try:
                message: tuple[str, Any] | None = worker.conn.recv() if worker.conn.poll() else None
            except (EOFError, OSError):
                message = None
            if message is None:
                break
            status, payload = message
            if status == "ready":
                worker.ready = True
                worker.started = time.monotonic()  # the timeout counts rendering, not the start-up
                continue
            worker.task = None
            if status == "ok":
                return digest, [Path(p) for p in payload], None
            if status == "fatal":
                raise RenderBackendError(payload)
            if status == "disk":  # a full or read-only disk fails every mesh alike: stop here
                raise fault_error(payload, self._cache_root)
            return digest, [], payload
        if not worker.process.is_alive():
            worker.process.join(timeout=1)
            if not worker.ready:
                raise RenderBackendError(
                    f"a render worker process failed to start ({_death(worker.process.exitcode)}); "
                    "render_many starts workers with multiprocessing's 'spawn': a script that calls it "
                    "must do so under `if __name__ == '__main__':`"
                )
            worker.task = None
            return (
                digest,
                [],
                f"{path}: {_death(worker.process.exitcode)} while loading or rendering this mesh",
            )
        if self._timeout_s is not None and time.monotonic() - worker.started > self._timeout_s:
            worker.kill()
            worker.task = None
            return digest, [], f"{path}: rendering took longer than {self._timeout_s:g} s and was stopped"
        return None

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        deadline = time.monotonic() + 5.0
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            worker.kill()
        self._workers = []


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"the render worker process crashed ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"the render worker process was killed by signal {-exitcode}"
    return f"the render worker process exited unexpectedly (exit code {exitcode})"


# ---- the worker (child side) ------------------------------------------------------------------


def _worker_main(conn: Connection, cache_root: str, spec: ViewSpec, roots: tuple[Path, ...] = ()) -> None:
    """Render one mesh per message until told to stop (None) or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    configure_gl_platform()
    from engine.render.renderer import render_views, reset_shared_renderer

    cache = RenderCache(Path(cache_root))
    try:
        conn.send(("ready", None))
    except OSError:
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        digest, path = task
        if os.environ.get(CRASH_ON_NAME_ENV) == Path(path).name:
            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            found = cache.lookup_digest(digest, spec)  # another process may have rendered it meanwhile
            views = found if found is not None else cache.store(digest, spec, render_views(Path(path), spec, roots))
            reply: tuple[str, Any] = ("ok", [str(v) for v in views])
        except MeshError as exc:
            reply = ("error", str(exc))
        except RenderBackendError as exc:
            reply = ("fatal", str(exc))
        except Exception as exc:  # noqa: BLE001 - a GL or library error on this mesh: report it, start a fresh context
            fault = fault_of(exc, Path(cache_root))
            reply = ("disk", fault) if fault is not None else ("error", f"{path}: {type(exc).__name__}: {exc}")
            reset_shared_renderer()
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            break
    reset_shared_renderer()
    conn.close()
