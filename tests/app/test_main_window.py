from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.display import has_display
from app.window import MainWindow
from engine.catalog import ItemRecord
from engine.workspace import Workspace


def test_display_detection() -> None:
    assert not has_display({})
    assert has_display({"DISPLAY": ":99"})
    assert has_display({"QT_QPA_PLATFORM": "offscreen"})


def test_without_display_crossfold_says_so_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "app.main", "--workspace", str(tmp_path / "w")],
                          env=env, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "xvfb-run make run" in lines[0] and "trainer" in lines[0]


def test_main_window_lists_datasets(qtbot, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "w")
    cat = ws.catalog()
    ds = cat.create_dataset("toy", "image-text", "test")
    cat.add_records(ds.id, [ItemRecord("a", captions=["x", "y"]), ItemRecord("b", captions=["z"])])
    window = MainWindow(ws)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.datasets_page.loaded, timeout=10_000) as blocker:
        window.datasets_page.refresh()
    assert blocker.args == [1]
    table = window.datasets_page.table
    assert table.item(0, 0).text() == "toy"
    assert table.item(0, 3).text() == "2"
    assert table.item(0, 4).text() == "3"
    assert [window.sidebar.item(i).text() for i in range(window.sidebar.count())] == [
        "Datasets", "Training", "Search"]
    window.sidebar.setCurrentRow(2)
    assert window.pages.currentIndex() == 2
    assert not window.grab().isNull()
