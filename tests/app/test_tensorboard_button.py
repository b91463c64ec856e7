""""Open in TensorBoard": a real TensorBoard child on 127.0.0.1 serving the workspace's runs, opened through Qt's
URL handler (the browser's place), and stopped with the app."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QProcess, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from app.widgets.tensorboard_button import TensorBoardButton, tensorboard_installed
from engine.workspace import Workspace

pytestmark = pytest.mark.skipif(not tensorboard_installed(), reason="the tensorboard extra is not installed")
WAIT = 120_000  # ms: TensorBoard imports a lot on a slow, shared CPU


class Browser(QObject):
    """Where ``QDesktopServices.openUrl`` sends http URLs while the test runs (instead of a browser)."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


@pytest.fixture()
def browser():
    browser = Browser()
    QDesktopServices.setUrlHandler("http", browser, "open")
    yield browser
    QDesktopServices.unsetUrlHandler("http")


def runs_served(url: str) -> list[str]:
    try:
        with urllib.request.urlopen(url + "data/runs", timeout=5) as response:
            return list(json.load(response))
    except OSError:
        return []


def test_open_in_tensorboard_serves_the_workspaces_runs_and_stops_with_the_app(qtbot, tmp_path: Path,
                                                                               browser: Browser) -> None:
    from torch.utils.tensorboard import SummaryWriter

    ws = Workspace.open(tmp_path / "ws")
    for run in ("clip-a", "mxm-b"):
        with SummaryWriter(str(ws.runs / run / "tensorboard")) as writer:
            writer.add_scalar("val/image_to_text_R@1", 0.5, 10)
    button = TensorBoardButton(ws)
    qtbot.addWidget(button)
    assert not button.isHidden()  # shown: the package is there
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT)  # opened in the browser once it serves
    url = browser.opened[0]
    assert url.startswith("http://127.0.0.1:") and button.process is not None
    qtbot.waitUntil(lambda: len(runs_served(url)) == 2, timeout=WAIT)
    assert sorted(runs_served(url)) == ["clip-a/tensorboard", "mxm-b/tensorboard"]  # both runs, side by side
    process = button.process
    button.click()  # a second click opens the same TensorBoard again, no second server
    assert browser.opened == [url, url] and button.process is process
    button.stop()  # what the app's quit does
    assert process.state() == QProcess.ProcessState.NotRunning and runs_served(url) == []
