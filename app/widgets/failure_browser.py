"""The failure browser: from a run's evaluation, the queries whose ground truth ranked below k.

Each failure shows the query (a caption, or a shape's view / an image), where the right item landed (its
rank and score), and the top-k results with the right ones ticked. The run is restored, the split encoded
and ranked by :func:`engine.evaluate.failures.run_failures` in a worker; thumbnails are decoded there too.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from PySide6.QtCore import QCoreApplication, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.runs import open_catalog
from app.tasks import submit
from app.widgets.labels import direction_label
from engine.workspace import Workspace

THUMB = 72
QUERY_THUMB = 128


def _read_image(path: str, size: int) -> QImage:
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    source = reader.size()
    if source.isValid() and not source.isEmpty():
        reader.setScaledSize(source.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def load_thumbnails(paths: Iterable[str | None], size: int) -> dict[str, QImage]:
    """Decode pictures scaled to ``size`` (QImage is safe off the GUI thread; QPixmap is not)."""
    out: dict[str, QImage] = {}
    for path in paths:
        if path and path not in out:
            image = _read_image(path, size)
            if not image.isNull():
                out[path] = image
    return out


_pool: QThreadPool | None = None


def engine_pool() -> QThreadPool:
    """One thread for the browser's model work: encoding a split takes a while and must not hold up the
    global pool's short catalogue queries."""
    global _pool
    if _pool is None:
        _pool = QThreadPool(QCoreApplication.instance())
        _pool.setMaxThreadCount(1)
    return _pool


def compute_failures(workspace: Workspace, run: str, split: str, direction: str | None, k: int,
                     limit: int = 500) -> tuple[object, dict[str, QImage]]:
    """The failure report and its thumbnails (a worker's job)."""
    from engine.evaluate.failures import run_failures

    catalog = open_catalog(workspace)
    try:
        report = run_failures(catalog, run, split, direction, k, limit=limit)
    finally:
        catalog.close()
    paths: list[str | None] = []
    for case in report.failures:
        paths.append(case.query.image)
        paths.append(case.answer.image if case.answer else None)
        paths.extend(c.row.image for c in case.candidates)
    return report, load_thumbnails(paths, QUERY_THUMB)


class FailureBrowser(QDialog):
    """``FailureBrowser(workspace, run, split="test", direction=None, k=5)``; computes on open.

    Signals: ``loaded(int)`` (number of failures listed), ``failed(str)``.
    """

    loaded = Signal(int)
    failed = Signal(str)

    def __init__(self, workspace: Workspace, run: str, split: str = "test", direction: str | None = None,
                 k: int = 5, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.run = run
        self.report = None
        self._images: dict[str, QImage] = {}
        self._pixmaps: dict[tuple[str, int], QPixmap] = {}
        self._tasks: list[object] = []
        self._busy = False
        self.setWindowTitle(f"Failures of {run}")
        self.resize(980, 640)

        self._build_choices(split, direction, k)
        self._build_failure_list()
        self._build_case()
        self._build_results()
        controls = self._build_controls()
        splitter = self._build_splitter()

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self._build_busy_bar())
        layout.addWidget(splitter, 1)
        self.compute()

    def _build_choices(self, split: str, direction: str | None, k: int) -> None:
        """What to look for (split, direction, k), the button that looks, and the status line."""
        self.split = QComboBox()
        self.split.addItems(["test", "val", "train"])
        self.split.setCurrentText(split)
        self.direction = QComboBox()
        self.direction.setMinimumContentsLength(18)
        if direction:
            self.direction.addItem(direction_label(direction), direction)
        self.k = QSpinBox()
        self.k.setRange(1, 100)
        self.k.setValue(k)
        self.k.setPrefix("k = ")
        self.k.setToolTip("A query fails when its first correct result ranks below k")
        self.find_button = QPushButton("Find failures")
        self.find_button.clicked.connect(self.compute)
        self.status = QLabel("")
        self.status.setWordWrap(True)

    def _build_failure_list(self) -> None:
        self.failure_list = QListWidget()
        self.failure_list.setIconSize(QSize(40, 40))
        self.failure_list.setUniformItemSizes(True)
        self.failure_list.currentRowChanged.connect(self._show_case)

    def _build_case(self) -> None:
        """The chosen failure's query and where its right item landed, pictures beside the text."""
        self.query_picture = QLabel()
        self.query_picture.setFixedSize(QUERY_THUMB, QUERY_THUMB)
        self.query_picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.query_picture.setStyleSheet("background: palette(base); border: 1px solid palette(mid);")
        self.query_text = QLabel("")
        self.query_text.setWordWrap(True)
        self.query_text.setTextFormat(Qt.TextFormat.RichText)
        self.answer_picture = QLabel()
        self.answer_picture.setFixedSize(THUMB, THUMB)
        self.answer_picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.answer_text = QLabel("")
        self.answer_text.setWordWrap(True)
        self.answer_text.setTextFormat(Qt.TextFormat.RichText)

    def _build_results(self) -> None:
        """The chosen failure's top results: rank, picture, item, caption, score."""
        self.results = QTableWidget(0, 5)
        self.results.setHorizontalHeaderLabels(["Rank", "", "Item", "Caption", "Score"])
        self.results.verticalHeader().setVisible(False)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setIconSize(QSize(THUMB - 8, THUMB - 8))
        self.results.verticalHeader().setDefaultSectionSize(THUMB - 4)
        self.results.setColumnWidth(0, 50)
        self.results.setColumnWidth(1, THUMB)
        self.results.setColumnWidth(2, 130)
        self.results.setColumnWidth(4, 70)
        self.results.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

    def _build_controls(self) -> QHBoxLayout:
        controls = QHBoxLayout()
        for label, w in (("Split", self.split), ("Direction", self.direction)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        controls.addWidget(self.k)
        controls.addWidget(self.find_button)
        controls.addStretch(1)
        return controls

    def _build_splitter(self) -> QSplitter:
        """The failed queries on the left, the chosen one's case and top results on the right."""
        query_box = QHBoxLayout()
        query_box.addWidget(self.query_picture)
        query_col = QVBoxLayout()
        query_col.addWidget(self.query_text)
        answer_row = QHBoxLayout()
        answer_row.addWidget(self.answer_picture)
        answer_row.addWidget(self.answer_text, 1)
        query_col.addLayout(answer_row)
        query_col.addStretch(1)
        query_box.addLayout(query_col, 1)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addLayout(query_box)
        top_label = QLabel("<b>Top results</b> — none is the right item; shaded rows share its category")
        detail_layout.addWidget(top_label)
        detail_layout.addWidget(self.results, 1)

        failures = QWidget()
        failures_layout = QVBoxLayout(failures)
        failures_layout.setContentsMargins(0, 0, 0, 0)
        failures_layout.addWidget(QLabel("<b>Failed queries</b> (#rank of the right item)"))
        failures_layout.addWidget(self.failure_list, 1)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(failures)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([300, 680])
        return splitter

    def _build_busy_bar(self) -> QProgressBar:
        """Shown (moving) while the failures are computed, in place of empty pictures and lists."""
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.hide()
        return self.busy_bar

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.find_button.setEnabled(not busy)
        self.busy_bar.setVisible(busy)
        self.splitter.setVisible(not busy)

    def direction_key(self) -> str | None:
        """The direction chosen (its engine key, e.g. ``text_to_shape``), or None: the default."""
        data = self.direction.currentData()
        return str(data) if data else (self.direction.currentText() or None)

    # ---- computing
    def compute(self) -> None:
        if self._busy:
            return
        self._set_busy(True)
        direction = self.direction_key()
        split, k = self.split.currentText(), self.k.value()
        self.status.setText(f"Restoring {self.run}'s best checkpoint and encoding its {split} split…")
        ws, run = self.workspace, self.run
        self._tasks.append(submit(lambda: compute_failures(ws, run, split, direction, k), self._loaded,
                                  self._failed, pool=engine_pool(), owner=self))

    def _loaded(self, result: tuple[object, dict[str, QImage]]) -> None:
        self._set_busy(False)
        report, images = result
        self.report = report
        self._images.update(images)
        current = self.direction_key()
        self.direction.blockSignals(True)
        self.direction.clear()
        for d in report.directions:
            self.direction.addItem(direction_label(d), d)
        self.direction.setCurrentIndex(self.direction.findData(current if current in report.directions
                                                               else report.direction))
        self.direction.blockSignals(False)
        n = len(report.failures)
        more = " (the first ones)" if report.truncated else ""
        self.status.setText(
            f"<b>{n}</b>{more} of {report.num_queries} {direction_label(report.direction)} queries on "
            f"{report.dataset}/{report.split} have no right answer in the top {report.k} "
            f"(checkpoint {report.checkpoint.rsplit('/', 1)[-1]}, step {report.step})."
            if n else f"No failure: every {direction_label(report.direction)} query on {report.dataset}/"
                      f"{report.split} has a right answer in the top {report.k}."
        )
        self.failure_list.clear()
        for case in report.failures:
            label = case.query.text or case.query.key
            item = QListWidgetItem(f"#{case.rank}  {label}")
            item.setToolTip(f"{case.query.key} ({case.query.category}): the right item ranked {case.rank}")
            icon = self._pixmap(case.query.image, 40)
            if icon is not None:
                item.setIcon(QIcon(icon))
            self.failure_list.addItem(item)
        if n:
            self.failure_list.setCurrentRow(0)
        else:
            self._show_case(-1)
        self.loaded.emit(n)

    def _failed(self, message: str) -> None:
        self._set_busy(False)
        first = message.splitlines()[0] if message else "unknown error"
        self.status.setText(f"<span style='color:#c62828'>Could not compute the failures: {first}</span>")
        self.failed.emit(first)

    # ---- showing
    def _pixmap(self, path: str | None, size: int) -> QPixmap | None:
        if not path or path not in self._images:
            return None
        key = (path, size)
        if key not in self._pixmaps:
            self._pixmaps[key] = QPixmap.fromImage(self._images[path]).scaled(
                size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        return self._pixmaps[key]

    def _show_case(self, row: int) -> None:
        self.results.setRowCount(0)
        self.query_picture.clear()
        self.answer_picture.clear()
        if self.report is None or not (0 <= row < len(self.report.failures)):
            self.query_text.setText("")
            self.answer_text.setText("")
            return
        case = self.report.failures[row]
        q = case.query
        picture = self._pixmap(q.image, QUERY_THUMB)
        self.query_picture.setVisible(picture is not None)
        if picture is not None:
            self.query_picture.setPixmap(picture)
        text = f"<p style='font-size:large'>“{html.escape(q.text)}”</p>" if q.text else ""
        self.query_text.setText(f"<b>Query</b> — item {html.escape(q.key)}"
                                f"{' (' + html.escape(q.category) + ')' if q.category else ''}{text}")
        answer = case.answer
        pic = self._pixmap(answer.image if answer else None, THUMB)
        self.answer_picture.setVisible(pic is not None)
        if pic is not None:
            self.answer_picture.setPixmap(pic)
        what = f"“{html.escape(answer.text)}”" if answer and answer.text else ""
        self.answer_text.setText(
            f"The right item <b>{html.escape(q.key)}</b> landed at <b style='color:#c62828'>rank {case.rank}</b> "
            f"(score {case.correct_score:.3f}; top-{len(case.candidates)} cut-off "
            f"{case.candidates[-1].score:.3f}) {what}" if case.candidates else f"rank {case.rank}")
        self.results.setRowCount(len(case.candidates))
        pictures = any(c.row.image for c in case.candidates)
        self.results.setColumnHidden(1, not pictures)
        captions = any(c.row.text for c in case.candidates)
        self.results.setColumnHidden(3, not captions)
        header = self.results.horizontalHeader()
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive if captions
                                    else QHeaderView.ResizeMode.Stretch)
        self.results.verticalHeader().setDefaultSectionSize(THUMB - 4 if pictures else 26)
        bold = QFont(self.font())
        bold.setBold(True)
        for r, cand in enumerate(case.candidates):
            rank = QTableWidgetItem(f"{'✓ ' if cand.correct else ''}{cand.rank}")
            rank.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            thumb = QTableWidgetItem()
            pm = self._pixmap(cand.row.image, THUMB - 8)
            if pm is not None:
                thumb.setIcon(QIcon(pm))
            key = QTableWidgetItem(f"{cand.row.key}\n{cand.row.category}" if cand.row.category else cand.row.key)
            caption = QTableWidgetItem(cand.row.text or "")
            caption.setToolTip(cand.row.text or "")
            score = QTableWidgetItem(f"{cand.score:.3f}")
            score.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            near = bool(q.category) and cand.row.category == q.category
            for c, item in enumerate((rank, thumb, key, caption, score)):
                if cand.correct:
                    item.setBackground(QColor(102, 187, 106, 70))
                    item.setFont(bold)
                elif near:
                    item.setBackground(QColor(255, 214, 102, 70))
                    item.setToolTip(f"same category as the query ({q.category})")
                self.results.setItem(r, c, item)
