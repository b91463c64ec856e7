""""Open in TensorBoard": the workspace's runs (``runs/*/tensorboard``, written with ``--report-to tensorboard``)
in TensorBoard, started on 127.0.0.1 on a free port as a child process, in the browser; stopped with the app.

Shown only when the ``tensorboard`` package is installed (``pip install 'crossfold[tensorboard]'``); found, never
imported here."""

from __future__ import annotations

import importlib.util
import re
import socket
import sys

from PySide6.QtCore import QCoreApplication, QProcess, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QPushButton, QWidget

from engine.workspace import Workspace

_SERVING = re.compile(rb"(http://127\.0\.0\.1:\d+/)")


def tensorboard_installed() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TensorBoardButton(QPushButton):
    """Starts TensorBoard on the workspace's runs (once) and opens it in the browser when it serves."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__("Open in TensorBoard", parent)
        self.workspace = workspace
        self.url: QUrl | None = None
        self.process: QProcess | None = None
        self._output = b""  # what TensorBoard printed so far (its "serving" line may come in pieces)
        self.setToolTip("Every run started with --report-to tensorboard, side by side (a local TensorBoard)")
        self.setVisible(tensorboard_installed())
        self.clicked.connect(self.open)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)  # it stops with the app

    def open(self) -> None:
        if self.url is not None and self.process is not None:
            QDesktopServices.openUrl(self.url)
            return
        if self.process is not None:  # starting: it opens when it serves
            return
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._ended)
        self.process, self._output = process, b""
        process.start(sys.executable, ["-m", "tensorboard.main", "--logdir", str(self.workspace.runs),
                                       "--host", "127.0.0.1", "--port", str(free_port())])

    def _read(self) -> None:
        if self.process is None:
            return
        self._output = (self._output + bytes(self.process.readAllStandardOutput().data()))[-65536:]
        found = _SERVING.search(self._output)
        if found and self.url is None:
            self.url = QUrl(found.group(1).decode())
            QDesktopServices.openUrl(self.url)

    def _ended(self, *_: object) -> None:
        self.process, self.url = None, None

    def stop(self) -> None:
        """Stop TensorBoard (the app is closing)."""
        process, self.process, self.url = self.process, None, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.finished.disconnect(self._ended)
            process.terminate()
            if not process.waitForFinished(3000):
                process.kill()
                process.waitForFinished(1000)
