"""``crossfold``: start the desktop app on a workspace."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.display import NO_DISPLAY_MESSAGE, has_display


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="crossfold", description="Crossfold desktop app")
    p.add_argument("--workspace", default=None, help="workspace folder (default: $CROSSFOLD_WORKSPACE or XDG)")
    p.add_argument("--check-display", action="store_true",
                   help="only check that a display is available (exit 0) or say why not (exit 2)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 2
    if args.check_display:
        return 0
    from PySide6.QtWidgets import QApplication

    from app.heap import GuiThreadCollector
    from app.window import MainWindow
    from engine.workspace import Workspace

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("Crossfold")
    qt_app.setOrganizationName("Crossfold")
    collector = GuiThreadCollector(qt_app)  # never in a worker thread: see app/heap.py
    collector.start()
    window = MainWindow(Workspace.open(args.workspace))
    window.show()
    try:
        return qt_app.exec()
    finally:
        collector.stop()


if __name__ == "__main__":
    sys.exit(main())
