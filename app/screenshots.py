"""``python -m app.screenshots``: a PNG of each page of the app with real data (run under Xvfb).

The Datasets page shows ``shapes-demo`` with an item open (``item-3d.png``: that item's detail, its
interactive 3D view beside its rendered views); the Training page the demo runs; the Search page the query "a red
chair" answered by the demo shapes run. Then two first-time views, each in a workspace of its own under a temporary
folder: ``empty-workspace`` (the Datasets page of a new workspace) and ``training-weak-run`` (a run that only reached
3-9 % R@1, as its events file says: the charts zoom to it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from engine.run.folder import RunFolder
from engine.workspace import Workspace

if TYPE_CHECKING:
    from app.window import MainWindow

SEARCH_TEXT = "a red chair"


def weak_run_workspace(root: Path) -> Workspace:
    """A workspace holding one finished run (``weak-run``) whose validation mean R@1 went 3 → 6 → 9 %."""
    ws = Workspace.open(root)
    folder = RunFolder.of(ws, "weak-run")
    folder.path.mkdir(parents=True, exist_ok=True)
    steps = 300

    def event(kind: str, **fields: object) -> str:
        return json.dumps({"event": kind, "time": 0.0, **fields}) + "\n"

    lines = [event("started", run="weak-run", total=steps, step=0, device="CPU")]
    lines += [event("progress", step=s, total=steps, loss=4.2 - 1.1 * (s / steps) ** 0.5,
                    parts={"contrastive": 3.0 - 0.8 * (s / steps) ** 0.5, "hard": 1.2 - 0.3 * s / steps})
              for s in range(1, steps + 1)]
    for step, r1 in ((100, 0.03), (200, 0.06), (300, 0.09)):
        lines.append(event("eval", step=step, split="val", metrics={
            "text_to_shape_R@1": r1 * 0.8, "shape_to_text_R@1": r1 * 1.2, "mean_R@1": r1}))
    lines += [event("best", step=300, path=str(folder.best), score=0.09),
              event("done", step=steps, total=steps, metrics={})]
    folder.events.write_text("".join(lines))
    config = {"dataset": "shapes-demo", "loss": "gcl", "max_steps": steps, "batch_size": 32, "lr": 0.0005,
              "name": "weak-run"}
    ws.catalog().upsert_run("weak-run", loss="gcl", config=config, status="done", run_dir=str(folder.path),
                            metrics={"best_step": 300, "best_score": 0.09})
    return ws


class _Shots:
    """The shots, one step each: a step shows a page, waits for its data, grabs it and starts the next step; the
    last one quits the app. ``failures`` says which waits timed out (the page was grabbed anyway)."""

    def __init__(self, app: QApplication, window: MainWindow, out: Path, timeout: float) -> None:
        self.app = app
        self.window = window
        self.out = out
        self.timeout = timeout  # seconds to wait for each page's data
        self.failures: list[str] = []
        self.scratch = tempfile.TemporaryDirectory(prefix="crossfold-shots-")
        self.others: list[MainWindow] = []  # the first-time views' windows

    # ---- helpers
    def save(self, widget: QWidget, name: str) -> None:
        path = self.out / f"{name}.png"
        widget.grab().save(str(path))
        print(f"wrote {path}", flush=True)

    def wait_for(self, signal, then, what: str) -> None:  # noqa: ANN001
        """Call ``then`` 1.5 s after ``signal`` fires (thumbnails arrive meanwhile), or when the wait times out."""
        timer = QTimer(self.window)
        timer.setSingleShot(True)

        def timed_out() -> None:
            self.failures.append(f"timed out waiting for {what}")
            then()

        def fired(*_args: object) -> None:
            if timer.isActive():
                timer.stop()
                QTimer.singleShot(1500, then)  # let thumbnails arrive before the grab

        timer.timeout.connect(timed_out)
        signal.connect(fired)
        timer.start(int(self.timeout * 1000))

    def other_window(self, ws: Workspace) -> MainWindow:
        from app.window import MainWindow

        w = MainWindow(ws)
        w.resize(1400, 880)
        w.show()
        self.others.append(w)
        return w

    # ---- the steps, in order
    def datasets(self) -> None:
        self.window.sidebar.setCurrentRow(0)
        page = self.window.datasets_page
        page.select_dataset("shapes-demo")
        self.wait_for(page.items_shown, lambda: (page.grid.select_row(4),
                                                 QTimer.singleShot(2500, self.after_datasets)), "the item grid")

    def after_datasets(self) -> None:
        self.save(self.window, "datasets")
        detail = self.window.datasets_page.detail
        if detail.mesh_view.frame is not None:
            self.item_3d()
        else:
            self.wait_for(detail.mesh_view.frame_shown, self.item_3d, "the item's 3D view")

    def item_3d(self) -> None:
        self.save(self.window.datasets_page.detail, "item-3d")
        self.training()

    def training(self) -> None:
        self.window.sidebar.setCurrentRow(1)
        QTimer.singleShot(4000, lambda: (self.save(self.window, "training"), self.search()))

    def search(self) -> None:
        self.window.sidebar.setCurrentRow(2)
        page = self.window.search_page
        self.wait_for(page.results_shown, lambda: (self.save(self.window, "search"), self.first_time()),
                      "search results")
        page.query_edit.setText(SEARCH_TEXT)

    def first_time(self) -> None:
        w = self.other_window(Workspace.open(Path(self.scratch.name) / "empty"))
        w.sidebar.setCurrentRow(0)
        QTimer.singleShot(2500, lambda: (self.save(w, "empty-workspace"), self.weak()))

    def weak(self) -> None:
        w = self.other_window(weak_run_workspace(Path(self.scratch.name) / "weak"))
        w.sidebar.setCurrentRow(1)
        QTimer.singleShot(4000, lambda: (self.save(w, "training-weak-run"), self.app.quit()))

    def finish(self) -> int:
        """Close the other windows, remove their workspaces, warn of each wait that timed out; the exit status."""
        for w in self.others:
            w.close()
        self.scratch.cleanup()
        for failure in self.failures:
            print(f"warning: {failure}", file=sys.stderr)
        return 1 if self.failures else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.screenshots")
    p.add_argument("--workspace", default=None)
    p.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each page's data")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.heap import GuiThreadCollector
    from app.window import MainWindow

    GuiThreadCollector(app).start()  # as the app does (app/main.py)

    window = MainWindow(Workspace.open(args.workspace))
    window.resize(1400, 880)
    window.show()
    shots = _Shots(app, window, args.out, args.timeout)
    QTimer.singleShot(500, shots.datasets)
    app.exec()
    return shots.finish()


if __name__ == "__main__":
    sys.exit(main())
