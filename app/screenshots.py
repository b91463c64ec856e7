"""``python -m app.screenshots``: a PNG of each page of the app with real data (run under Xvfb).

The Datasets page shows ``shapes-demo`` with an item open (``item-3d.png``: that item's detail, its
interactive 3D view beside its rendered views); the Training page the demo runs; the Search page the
query "a red chair" answered by the demo shapes run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engine.workspace import Workspace

SEARCH_TEXT = "a red chair"


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
        wait_for(page.results_shown, lambda: (shoot("search"), app.quit()), "search results")
        page.query_edit.setText(SEARCH_TEXT)

    QTimer.singleShot(500, datasets)
    app.exec()
    for failure in failures:
        print(f"warning: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
