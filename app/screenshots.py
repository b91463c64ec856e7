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

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engine.workspace import Workspace

SEARCH_TEXT = "a red chair"


def weak_run_workspace(root: Path) -> Workspace:
    """A workspace holding one finished run (``weak-run``) whose validation mean R@1 went 3 → 6 → 9 %."""
    ws = Workspace.open(root)
    run_dir = ws.runs / "weak-run"
    run_dir.mkdir(parents=True, exist_ok=True)
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
    lines += [event("best", step=300, path=str(run_dir / "best.pt"), score=0.09),
              event("done", step=steps, total=steps, metrics={})]
    (run_dir / "events.jsonl").write_text("".join(lines))
    config = {"dataset": "shapes-demo", "loss": "gcl", "max_steps": steps, "batch_size": 32, "lr": 0.0005,
              "name": "weak-run"}
    ws.catalog().upsert_run("weak-run", loss="gcl", config=config, status="done", run_dir=str(run_dir),
                            metrics={"best_step": 300, "best_score": 0.09})
    return ws


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.screenshots")
    p.add_argument("--workspace", default=None)
    p.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each page's data")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.window import MainWindow

    window = MainWindow(Workspace.open(args.workspace))
    window.resize(1400, 880)
    window.show()
    failures: list[str] = []

    def shoot(name: str) -> None:
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        print(f"wrote {path}", flush=True)

    def wait_for(signal, then, what: str) -> None:  # noqa: ANN001
        timer = QTimer(window)
        timer.setSingleShot(True)

        def timed_out() -> None:
            failures.append(f"timed out waiting for {what}")
            then()

        def fired(*_args: object) -> None:
            if timer.isActive():
                timer.stop()
                QTimer.singleShot(1500, then)  # let thumbnails arrive before the grab

        timer.timeout.connect(timed_out)
        signal.connect(fired)
        timer.start(int(args.timeout * 1000))

    def datasets() -> None:
        window.sidebar.setCurrentRow(0)
        page = window.datasets_page
        page.select_dataset("shapes-demo")
        wait_for(page.items_shown, lambda: (page.grid.select_row(4),
                                           QTimer.singleShot(2500, after_datasets)), "the item grid")

    def after_datasets() -> None:
        shoot("datasets")
        detail = window.datasets_page.detail
        if detail.mesh_view.frame is not None:
            item_3d()
        else:
            wait_for(detail.mesh_view.frame_shown, item_3d, "the item's 3D view")

    def item_3d() -> None:
        path = args.out / "item-3d.png"
        window.datasets_page.detail.grab().save(str(path))
        print(f"wrote {path}", flush=True)
        training()

    def training() -> None:
        window.sidebar.setCurrentRow(1)
        QTimer.singleShot(4000, lambda: (shoot("training"), search()))

    def search() -> None:
        window.sidebar.setCurrentRow(2)
        page = window.search_page
        wait_for(page.results_shown, lambda: (shoot("search"), first_time()), "search results")
        page.query_edit.setText(SEARCH_TEXT)

    scratch = tempfile.TemporaryDirectory(prefix="crossfold-shots-")
    others: list[MainWindow] = []

    def other_window(ws: Workspace) -> MainWindow:
        w = MainWindow(ws)
        w.resize(1400, 880)
        w.show()
        others.append(w)
        return w

    def first_time() -> None:
        w = other_window(Workspace.open(Path(scratch.name) / "empty"))
        w.sidebar.setCurrentRow(0)
        QTimer.singleShot(2500, lambda: (shoot_window(w, "empty-workspace"), weak()))

    def weak() -> None:
        w = other_window(weak_run_workspace(Path(scratch.name) / "weak"))
        w.sidebar.setCurrentRow(1)
        QTimer.singleShot(4000, lambda: (shoot_window(w, "training-weak-run"), app.quit()))

    def shoot_window(w: MainWindow, name: str) -> None:
        path = args.out / f"{name}.png"
        w.grab().save(str(path))
        print(f"wrote {path}", flush=True)

    QTimer.singleShot(500, datasets)
    app.exec()
    for w in others:
        w.close()
    scratch.cleanup()
    for failure in failures:
        print(f"warning: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
