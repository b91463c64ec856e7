"""The Training page: launch runs, follow them live, compare them, and look at where they fail.

Left, the new-run form. Right, the runs table (name, loss, dataset, status, progress, ★ best metrics) with
Cancel / Resume / Delete, and under it the selected run: a progress bar with ETA and samples/s, then tabs
with the curves (loss and its parts; eval metrics with a ★ at the best checkpoint), the evaluation table
(from which the failure browser opens), the comparison of several runs (metrics side by side and the
configuration difference) and the log. Selecting several runs overlays their curves.

Everything slow happens elsewhere: the engine trains in a detached process (:class:`app.training_jobs.TrainingJobs`)
that goes on when the app quits, the catalogue, the events files and the logs are read by
:class:`app.runs.RunsModel`'s worker, and the page only appends the new points to its charts.
"""

from __future__ import annotations

import math
import re
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.runs import RunsModel, RunState
from app.runs_table import PROGRESS_COLUMN, STATUS_COLOURS, NameRole, ProgressRole, RunsTableModel
from app.widgets.config_diff import ConfigDiff
from app.widgets.failure_browser import FailureBrowser
from app.widgets.labels import direction_label
from app.widgets.line_chart import MARKERS, LineChart, Marker, palette_colour
from app.widgets.run_form import LaunchRequest, RunForm
from engine.fmt import pct
from engine.workspace import Workspace

METRICS = ("R@1", "R@5", "R@10", "NDCG@5")
EVAL_COLUMNS = ("R@1", "R@5", "R@10", "RR@1", "RR@5", "NDCG@5", "median_rank", "num_queries")
_KEY = re.compile(r"^(?P<row>.+)_(?P<metric>(?:R|RR|NDCG)@\d+|median_rank|mean_rank|num_queries|num_candidates)$")
RESUMABLE = ("cancelled", "failed", "interrupted")
EVAL_HEADERS = {"median_rank": "Median rank", "num_queries": "Queries"}
EVAL_TIPS = {
    "R@1": "Recall at 1: the share of queries whose right answer ranks first",
    "R@5": "Recall at 5: the share of queries whose right answer is in the top 5",
    "R@10": "Recall at 10: the share of queries whose right answer is in the top 10",
    "RR@1": "Recall rate at 1, the Text2Shape papers' name for the same number as R@1: the share of queries "
            "with a right answer ranked first (shown to compare with published results)",
    "RR@5": "Recall rate at 5, the Text2Shape papers' name for the same number as R@5: the share of queries "
            "with a right answer in the top 5 (shown to compare with published results)",
    "NDCG@5": "Normalised discounted cumulative gain over the top 5: every right answer counts, higher ranks "
              "count more (1 = all of them first)",
    "median_rank": "The middle rank of the right answers (1 is best)",
    "num_queries": "How many queries were evaluated in this direction",
}


def parse_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{"text_to_shape_R@1": .5}`` -> ``{"text_to_shape": {"R@1": .5}}``, the ``mean`` row last."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        m = _KEY.match(key)
        if m and isinstance(value, (int, float)):
            rows.setdefault(m.group("row"), {})[m.group("metric")] = float(value)
    if "mean" in rows:
        rows["mean"] = rows.pop("mean")
    return rows


def rate(value: Any) -> str:
    """A rate in a table whose caption says %: ``0.5`` -> ``50.0``."""
    return pct(value, unit="", missing="–")


def duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


class ProgressDelegate(QStyledItemDelegate):
    """Draws the Progress column as a bar with ``step/total`` on it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        if not text:
            super().paint(painter, option, index)
            return
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(3, 4, -3, -4))
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(round(1000 * float(index.data(ProgressRole) or 0.0)))
        bar.text = text
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.palette = QPalette(option.palette)
        status = index.sibling(index.row(), PROGRESS_COLUMN - 1).data(Qt.ItemDataRole.DisplayRole)
        bar.palette.setColor(QPalette.ColorRole.Highlight, QColor(STATUS_COLOURS.get(status, "#1565c0")))
        widget = option.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)


class TrainingPage(QWidget):
    """``TrainingPage(workspace, parent=None)``.

    Signals: ``launched(str)`` (a run was started from this page), ``message(str)`` (a status line).
    Attributes tests and the window use: ``form``, ``runs`` (:class:`RunsModel`), ``table_model``, ``table``,
    ``loss_chart``, ``eval_chart``, ``progress``, ``stats``, ``log_view``, ``eval_table``, ``compare_table``,
    ``config_diff``, ``cancel_button``, ``resume_button``, ``delete_button``, ``failures_button``.
    """

    launched = Signal(str)
    message = Signal(str)

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.runs = RunsModel(workspace, self)
        self.table_model = RunsTableModel(self.runs, self)
        self._selected: list[str] = []
        self._drawn: dict[tuple[str, str], int] = {}
        self._eval_seen: dict[str, int] = {}
        self._log_shown: tuple[str, int] | None = None
        self._pending_select: str | None = None
        self._auto_selected = False
        self._browsers: list[FailureBrowser] = []
        self._announce_end: set[str] = set()  # runs started here whose end the notice will announce

        scroll = self._build_form()
        self._build_runs_table()
        runs_box = self._build_runs_box()
        self._build_run_header()
        curves = self._build_curves()
        evaluation = self._build_evaluation()
        compare = self._build_compare()
        self._build_log_view()
        details = self._build_details(curves, evaluation, compare)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(runs_box)
        right.addWidget(details)
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        right.setSizes([260, 420])

        layout = QHBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(right, 1)

        self.runs.runUpdated.connect(self._run_updated)
        self.runs.runsChanged.connect(self._runs_changed)
        self.runs.refreshed.connect(self._refreshed)
        self.runs.error.connect(self._say)
        self.runs.jobFinished.connect(self._job_finished)
        self._update_buttons()
        self._show_selection()

    # ---- building the widgets (called once, by __init__) ---------------------------------------
    def _build_form(self) -> QScrollArea:
        """Left: the new-run form, in a scroll area."""
        self.form = RunForm(self.workspace, taken_names=self.runs.names)
        self.form.launchRequested.connect(self._launch)
        form_box = QGroupBox("New run")
        form_layout = QVBoxLayout(form_box)
        form_layout.setContentsMargins(6, 6, 6, 6)
        form_layout.addWidget(self.form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(form_box)
        scroll.setMinimumWidth(300)
        scroll.setMaximumWidth(380)
        return scroll

    def _build_runs_table(self) -> None:
        """Right top: the table of runs."""
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setAlternatingRowColors(True)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate((120, 44, 84, 64, 80, 92, 62, 70, 70, 64, 100)):  # fits 1,400 px
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table_model.rowsInserted.connect(self._rows_inserted)

    def _build_runs_box(self) -> QWidget:
        """The runs table under its title, status line, notice and action buttons."""
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop gracefully: the engine finishes its step and writes a checkpoint")
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue from the latest checkpoint with the run's saved configuration")
        self.resume_button.clicked.connect(self.resume_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Remove the run from the catalogue (and, if you tick it, its folder)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.template_button = QPushButton("Copy to form")
        self.template_button.setToolTip("Fill the new-run form with this run's configuration")
        self.template_button.clicked.connect(self._copy_to_form)
        self.failures_button = QPushButton("Failures…")
        self.failures_button.setToolTip("Queries whose right answer ranked below k, on the best checkpoint")
        self.failures_button.clicked.connect(lambda: self.open_failures())
        self.status_line = QLabel("Reading the runs…")
        self.notice = QLabel("")
        self.notice.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setStyleSheet("color: palette(dark);")
        self.notice.setVisible(False)

        self.runs_title = title = QLabel("<h3 style='margin:0'>Runs</h3>")
        buttons = QHBoxLayout()
        buttons.addWidget(title)
        buttons.addWidget(self.status_line, 1)
        for b in (self.cancel_button, self.resume_button, self.delete_button, self.template_button,
                  self.failures_button):
            buttons.addWidget(b)
        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addLayout(buttons)
        runs_layout.addWidget(self.notice)
        runs_layout.addWidget(self.table, 1)
        return runs_box

    def _build_run_header(self) -> None:
        """Right bottom: the selected run's title, progress bar and figures."""
        self.run_title = QLabel("")
        self.run_title.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.stats = QLabel("")
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.stats.setWordWrap(True)

    def _build_curves(self) -> QWidget:
        """The Curves tab: loss and validation charts."""
        self.loss_chart = LineChart("Training loss", "step", "")
        self.loss_chart.empty_text = "Select a run to see its loss"
        self.eval_chart = LineChart("Validation", "step", "")
        self.eval_chart.y_format = "percent"
        self.eval_chart.y_floor, self.eval_chart.y_ceiling = 0.0, 1.0  # autoscaled inside 0-100 %
        self.eval_chart.empty_text = "No evaluation yet"
        self.loss_chart.x_integer = self.eval_chart.x_integer = True
        self.show_parts = QCheckBox("loss parts")
        self.show_parts.setChecked(True)
        self.show_parts.toggled.connect(self._redraw)
        self.metric_choice = QComboBox()
        self.metric_choice.addItems(METRICS)
        self.metric_choice.currentIndexChanged.connect(self._redraw)
        chart_controls = QHBoxLayout()
        chart_controls.addWidget(self.show_parts)
        chart_controls.addStretch(1)
        chart_controls.addWidget(self._build_scale_toggle())
        chart_controls.addWidget(QLabel("Metric"))
        chart_controls.addWidget(self.metric_choice)
        charts = QHBoxLayout()
        charts.addWidget(self.loss_chart, 1)
        charts.addWidget(self.eval_chart, 1)
        curves = QWidget()
        curves_layout = QVBoxLayout(curves)
        curves_layout.setContentsMargins(4, 4, 4, 4)
        curves_layout.addLayout(chart_controls)
        curves_layout.addLayout(charts, 1)
        return curves

    def _build_evaluation(self) -> QWidget:
        """The Evaluation tab: retrieval metrics per direction."""
        self.eval_split = QComboBox()
        self.eval_split.addItems(["val: best checkpoint", "val: latest", "test"])
        self.eval_split.currentIndexChanged.connect(self._fill_eval_table)
        self.eval_caption = QLabel("")
        self.eval_table = QTableWidget(0, len(EVAL_COLUMNS))
        self._set_eval_headers()
        self.eval_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.eval_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.eval_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.eval_table.verticalHeader().setDefaultSectionSize(22)
        self.eval_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.eval_table.doubleClicked.connect(lambda _i: self.open_failures())
        self.eval_failures_button = QPushButton("Browse failures of this direction…")
        self.eval_failures_button.clicked.connect(lambda: self.open_failures())
        eval_top = QHBoxLayout()
        eval_top.addWidget(QLabel("Split"))
        eval_top.addWidget(self.eval_split)
        eval_top.addWidget(self.eval_caption, 1)
        eval_top.addWidget(self.eval_failures_button)
        evaluation = QWidget()
        eval_layout = QVBoxLayout(evaluation)
        eval_layout.setContentsMargins(4, 4, 4, 4)
        eval_layout.addLayout(eval_top)
        eval_layout.addWidget(self.eval_table, 1)
        return evaluation

    def _build_compare(self) -> QWidget:
        """The Compare tab: the selected runs side by side, and their config diff."""
        self.compare_caption = QLabel("Select several runs (Ctrl+click) to compare them side by side.")
        self.compare_table = QTableWidget(0, 0)
        self.compare_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.compare_table.verticalHeader().setDefaultSectionSize(22)
        self.config_diff = ConfigDiff()
        compare_split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.compare_caption)
        top_layout.addWidget(self.compare_table, 1)
        compare_split.addWidget(top)
        compare_split.addWidget(self.config_diff)
        compare_split.setStretchFactor(0, 3)
        compare_split.setStretchFactor(1, 2)
        compare = QWidget()
        compare_layout = QVBoxLayout(compare)
        compare_layout.setContentsMargins(4, 4, 4, 4)
        compare_layout.addWidget(compare_split)
        return compare

    def _build_log_view(self) -> None:
        """The Log tab: the run's log and events."""
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self.log_view.setFont(mono)

    def _build_details(self, curves: QWidget, evaluation: QWidget, compare: QWidget) -> QWidget:
        """The selected run(s): header, figures and the tabs."""
        self.tabs = QTabWidget()
        self.tabs.addTab(curves, "Curves")
        self.tabs.addTab(evaluation, "Evaluation")
        self.tabs.addTab(compare, "Compare")
        self.tabs.addTab(self.log_view, "Log")

        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.run_title)
        head.addWidget(self.progress, 1)
        details_layout.addLayout(head)
        details_layout.addWidget(self.stats)
        details_layout.addWidget(self.tabs, 1)
        return details

    def _announce_if_ended(self, name: str) -> None:
        """"Started NAME." becomes "NAME finished: best mean R@1 X %" (or how it ended) once it ends."""
        announce = getattr(self, "_announce_end", None)
        state = self.runs.state(name)
        if announce is None or name not in announce or state is None or state.live:
            return
        status = state.display_status
        if status == "done":
            announce.discard(name)
            best = state.best[1]
            self._say(f"{name} finished: best mean R@1 {pct(best)}" if best is not None else f"{name} finished.")
        elif status == "cancelled":
            announce.discard(name)
            self._say(f"{name} was cancelled at step {state.step}: Resume continues it.")
        elif status in ("failed", "interrupted"):
            announce.discard(name)  # _job_finished says why

    def _set_eval_headers(self) -> None:
        """Words, not keys, for the evaluation table's columns; each explains itself in a tooltip."""
        for c, col in enumerate(EVAL_COLUMNS):
            item = QTableWidgetItem(EVAL_HEADERS.get(col, col))
            item.setToolTip(EVAL_TIPS.get(col, ""))
            self.eval_table.setHorizontalHeaderItem(c, item)

    def _build_scale_toggle(self) -> QCheckBox:
        """The validation chart follows its data; this box pins it to the whole 0-100 % scale."""
        self.full_scale = QCheckBox("0–100 %")
        self.full_scale.setToolTip("Show the validation chart on the full 0–100 % scale (off: zoom to the data)")
        self.full_scale.toggled.connect(self._set_eval_scale)
        return self.full_scale

    def _set_eval_scale(self, full: bool) -> None:
        self.eval_chart.y_min, self.eval_chart.y_max = (0.0, 1.0) if full else (None, None)
        self.eval_chart.update()

    # ---- selection
    def selected_names(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.table_model.name_at(r) for r in rows if r < self.table_model.rowCount()]

    def select(self, names: list[str] | str) -> None:
        """Select runs by name (the table's selection; the details follow)."""
        names = [names] if isinstance(names, str) else names
        sm = self.table.selectionModel()
        sm.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for name in names:
            row = self.table_model.row_of(name)
            if row >= 0:
                sm.select(self.table_model.index(row, 0), flags)
                self.table.scrollTo(self.table_model.index(row, 0))
        if names and self.table_model.row_of(names[-1]) >= 0:
            sm.setCurrentIndex(self.table_model.index(self.table_model.row_of(names[-1]), 0),
                               QItemSelectionModel.SelectionFlag.NoUpdate)

    def _selection_changed(self, *_: Any) -> None:
        names = self.selected_names()
        if names != self._selected:
            self._selected = names
            self._show_selection()
        self._update_buttons()

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        names = [self.table_model.name_at(r) for r in range(first, last + 1)]
        if self._pending_select in names:
            self.select(self._pending_select)
            self._pending_select = None

    def _refreshed(self, count: int) -> None:
        if not self._auto_selected:
            self._auto_selected = True
            if not self._selected and count:
                self._select_on_opening()
        self._update_status_line()

    def _runs_changed(self) -> None:
        self._update_status_line()
        names = self.selected_names()
        if names != self._selected:
            self._selected = names
            self._show_selection()
        self._update_buttons()

    def _select_on_opening(self) -> None:
        """A running run if there is one; else the best finished run (by its best validation mean R@1), else the
        newest; and say which."""
        states = self.runs.states()
        live = [s for s in states if s.live]
        finished = [s for s in states if s.display_status == "done"]
        scored = [s for s in finished if isinstance(s.best[1], (int, float)) and not math.isnan(s.best[1])]
        if live:
            chosen, why = live[-1], "it is running"
        elif scored:
            chosen = max(scored, key=lambda s: s.best[1])
            why = f"the best run: mean R@1 {pct(chosen.best[1])} on validation"
        elif finished:
            chosen, why = finished[-1], "the newest finished run"
        else:
            chosen, why = states[-1], "the newest run"
        self.select(chosen.name)
        if len(states) > 1:
            self._say(f"Showing {chosen.name}, {why}.")

    def _update_status_line(self) -> None:
        states = self.runs.states()
        self.runs_title.setText(f"<h3 style='margin:0'>Runs ({len(states)})</h3>" if states else
                                "<h3 style='margin:0'>Runs</h3>")
        if not states:
            self.status_line.setText("No runs yet: fill in the form on the left and launch one.")
            return
        live = sum(1 for s in states if s.live)
        self.status_line.setText(f"{live} running" if live else "")

    def _say(self, text: str) -> None:
        """A message under the title that stays until the next one (the run counts live beside it)."""
        self.notice.setText(text)
        self.notice.setToolTip(text)
        self.notice.setVisible(True)
        self.message.emit(text)

    # ---- buttons
    def _states(self) -> list[RunState]:
        return [s for s in (self.runs.state(n) for n in self._selected) if s is not None]

    def _update_buttons(self) -> None:
        states = self._states()
        one = states[0] if len(states) == 1 else None
        self.cancel_button.setEnabled(any(s.live for s in states))
        self.resume_button.setEnabled(one is not None and one.display_status in RESUMABLE and bool(one.config))
        self.delete_button.setEnabled(bool(states) and not any(s.live for s in states))
        self.template_button.setEnabled(one is not None and bool(one.config))
        has_checkpoint = one is not None and (one.best[0] is not None or bool(one.last_checkpoint)
                                              or one.display_status == "done")
        self.failures_button.setEnabled(has_checkpoint)
        self.eval_failures_button.setEnabled(has_checkpoint)

    def _launch(self, request: LaunchRequest) -> None:
        try:
            self.runs.launch(request.name, request.args)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._say(f"Could not start {request.name}: {exc}")
            return
        self._pending_select = request.name
        if self.table_model.row_of(request.name) >= 0:
            self.select(request.name)
            self._pending_select = None
        self._say(f"Started {request.name}.")
        self._announce_end.add(request.name)
        self.launched.emit(request.name)

    def cancel_selected(self) -> None:
        for state in self._states():
            if state.live:
                self._say(self.runs.cancel(state.name))

    def resume_selected(self) -> None:
        states = self._states()
        if len(states) != 1:
            return
        state = states[0]
        try:
            self.runs.resume(state.name)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._say(f"Could not resume {state.name}: {exc}")
            return
        self._say(f"Resuming {state.name} from its latest checkpoint…")
        self._update_buttons()

    def confirm_delete(self, names: list[str]) -> tuple[bool, bool]:
        """Ask before deleting: ``(go ahead, also remove the run folders)``. Tests replace this method."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Delete runs")
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        box.setText(f"Remove {listed} from the catalogue?")
        box.setInformativeText("The runs disappear from this table and from search. Their folders (checkpoints, "
                               "events, config) stay on disk unless you tick the box.")
        check = QCheckBox("Also delete the run folders and their checkpoints (cannot be undone)")
        box.setCheckBox(check)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        if box.exec() != QMessageBox.StandardButton.Yes:
            return False, False
        if check.isChecked():
            again = QMessageBox.question(
                self, "Delete run folders",
                f"Really delete the folders of {listed}, with every checkpoint? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if again != QMessageBox.StandardButton.Yes:
                return False, False
        return True, check.isChecked()

    def delete_selected(self) -> None:
        names = [s.name for s in self._states()]
        if not names:
            return
        if any(s.live for s in self._states()):
            self._say("Cancel the running runs before deleting them.")
            return
        ok, remove_files = self.confirm_delete(names)
        if not ok:
            return
        try:
            self.runs.delete(names, remove_files, self._deleted)
        except RuntimeError as exc:
            self._say(str(exc))
            return
        self._say(f"Deleting {', '.join(names)}…")

    def _job_finished(self, name: str, code: int, error: str) -> None:
        if code != 0:
            self._say(f"{name} stopped with an error: {error or f'exit code {code}'}")
        self._update_buttons()

    def _deleted(self, messages: list[str]) -> None:
        self._say("Deleted." + (" " + " ".join(messages) if messages else ""))

    def _copy_to_form(self) -> None:
        states = self._states()
        if len(states) == 1 and states[0].config:
            self.form.set_values({**states[0].config, "name": ""})
            self._say(f"The form now holds {states[0].name}'s configuration: change what you like and launch.")

    def open_failures(self, direction: str | None = None, split: str | None = None,
                      k: int = 5) -> FailureBrowser | None:
        states = self._states()
        if len(states) != 1:
            return None
        state = states[0]
        if direction is None:
            row = self.eval_table.currentRow()
            item = self.eval_table.verticalHeaderItem(row) if row >= 0 else None
            direction = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
            if direction == "mean":
                direction = None
        if split is None:
            split = "test" if self.eval_split.currentText() == "test" else state.val_split
        browser = FailureBrowser(self.workspace, state.name, split, direction, k, parent=self)
        browser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        browser.destroyed.connect(lambda _o=None, b=browser: self._browsers.remove(b) if b in self._browsers else None)
        self._browsers.append(browser)
        browser.show()
        return browser

    # ---- following runs
    def _run_updated(self, name: str) -> None:
        self._announce_if_ended(name)
        if name in self._selected:
            self._update_run(name)
        if name in self._selected or not self._selected:
            self._update_buttons()

    def _show_selection(self) -> None:
        """Everything below the table for the current selection, from scratch."""
        self._redraw()
        self._show_progress()
        self._fill_eval_table()
        self._fill_compare()
        self._fill_log(reset=True)
        self._update_buttons()

    def _update_run(self, name: str) -> None:
        """New events for a shown run: append its new points, refresh the small things."""
        state = self.runs.state(name)
        if state is None:
            return
        if not self._append_points(state):
            self._redraw()
        evals = len(state.evals)
        if self._eval_seen.get(name) != evals:
            self._eval_seen[name] = evals
            self._draw_evals()
            self._fill_eval_table()
        self._update_markers()
        self._show_progress()
        if len(self._selected) > 1:
            self._fill_compare()
        self._fill_log()

    # ---- charts
    def _series_sources(self, state: RunState, overlay: bool) -> list[tuple[str, list[tuple[int, float]]]]:
        sources = [("loss", state.loss_points)]
        if not overlay and self.show_parts.isChecked():
            sources += [(f"part:{k}", v) for k, v in state.part_points.items()]
        return sources

    def _redraw(self) -> None:
        self.loss_chart.clear()
        self._drawn.clear()
        states = self._states()
        overlay = len(states) > 1
        self.loss_chart.title = "Training loss" + (" — overlay" if overlay else "")
        has_parts = len(states) == 1 and bool(states[0].part_points)
        self.show_parts.setEnabled(has_parts)
        self.show_parts.setToolTip("Draw the parts the loss is made of (dashed)" if has_parts else
                                   "Only for one run whose loss has parts" if overlay or not states else
                                   "This run's loss has no parts")
        waiting = any(s.live or s.display_status in ("starting", "running") for s in states)
        self.loss_chart.empty_text = ("Waiting for the first step…" if waiting else
                                      "No steps recorded" if states else "Select a run to see its loss")
        for i, state in enumerate(states):
            for j, (key, points) in enumerate(self._series_sources(state, overlay)):
                if overlay:
                    label, colour, width = state.name, palette_colour(i), 1.6
                elif key == "loss":
                    label, colour, width = "loss", palette_colour(0), 2.0
                else:
                    label, colour, width = key.removeprefix("part:"), palette_colour(j), 1.2
                self.loss_chart.set_series(f"{state.name}/{key}", [p[0] for p in points], [p[1] for p in points],
                                           label=label, colour=colour, width=width, dashed=key != "loss")
                self._drawn[(state.name, key)] = len(points)
        self._eval_seen = {s.name: len(s.evals) for s in states}
        self._draw_evals()
        self._update_markers()

    def _append_points(self, state: RunState) -> bool:
        """Append what is new; False when a full redraw is needed (a series shrank or appeared)."""
        overlay = len(self._selected) > 1
        for key, points in self._series_sources(state, overlay):
            drawn = self._drawn.get((state.name, key))
            if drawn is None or drawn > len(points):
                return False
        for key, points in self._series_sources(state, overlay):
            drawn = self._drawn[(state.name, key)]
            if drawn < len(points):
                new = points[drawn:]
                self.loss_chart.append(f"{state.name}/{key}", [p[0] for p in new], [p[1] for p in new])
                self._drawn[(state.name, key)] = len(points)
        return True

    def _draw_evals(self) -> None:
        chart = self.eval_chart
        for key in chart.series_keys():
            chart.remove_series(key)
        states = self._states()
        metric = self.metric_choice.currentText()
        overlay = len(states) > 1
        split = states[0].val_split if len(states) == 1 else "val"
        chart.title = f"{split.capitalize()} {metric} (%)" + (" — mean over directions, overlay" if overlay else "")
        for i, state in enumerate(states):
            evals = state.val_evals()
            if overlay:
                xs = [e.step for e in evals if f"mean_{metric}" in e.metrics]
                ys = [e.metrics[f"mean_{metric}"] for e in evals if f"mean_{metric}" in e.metrics]
                chart.set_series(f"{state.name}/mean", xs, ys, label=state.name, colour=palette_colour(i),
                                 dots=True, marker=MARKERS[i % len(MARKERS)])
                continue
            directions: list[str] = []
            for e in evals:
                for d in parse_metrics(e.metrics):
                    if d not in directions and d != "mean":
                        directions.append(d)
            for j, d in enumerate([*directions, "mean"]):
                key = f"{d}_{metric}"
                points = [(e.step, e.metrics[key]) for e in evals if key in e.metrics]
                if not points:
                    continue
                chart.set_series(f"{state.name}/{d}", [p[0] for p in points], [p[1] for p in points],
                                 label="mean" if d == "mean" else direction_label(d),
                                 colour=QColor("#222222") if d == "mean" else palette_colour(j + 1),
                                 width=2.4 if d == "mean" else 1.3, dots=True)

    def _align_x(self) -> None:
        """Both charts span the same steps: from 0 to the last step trained by the shown runs."""
        last = max((s.loss_points[-1][0] for s in self._states() if s.loss_points), default=None)
        self.loss_chart.set_x_range(0, last)
        self.eval_chart.set_x_range(0, last)

    def _update_markers(self) -> None:
        """A ★ at each shown run's best step: on its mean eval curve and on its loss curve."""
        self._align_x()
        metric = self.metric_choice.currentText()
        eval_markers, loss_markers = [], []
        states = self._states()
        for i, state in enumerate(states):
            step, _ = state.best
            if step is None:
                continue
            colour = palette_colour(i) if len(states) > 1 else QColor("#f2b200")  # overlaid: the run's colour
            for e in state.val_evals():
                if e.step == step and f"mean_{metric}" in e.metrics:
                    eval_markers.append(Marker(step, e.metrics[f"mean_{metric}"], colour=colour))
                    break
            loss = next((v for s, v in reversed(state.loss_points) if s == step), None)
            if loss is not None:
                loss_markers.append(Marker(step, loss, colour=colour))
        self.eval_chart.set_markers(eval_markers)
        self.loss_chart.set_markers(loss_markers)

    # ---- progress, tables, log
    def _show_progress(self) -> None:
        states = self._states()
        if len(states) != 1:
            self.run_title.setText(f"<b>{len(states)} runs selected</b>" if states else "<b>No run selected</b>")
            self.progress.setVisible(False)
            self.stats.setText("Curves are overlaid; the Compare tab puts their metrics side by side."
                               if states else "")
            return
        s = states[0]
        status = s.display_status
        colour = STATUS_COLOURS.get(status, "#444444")
        self.run_title.setText(f"<b>{s.name}</b> <span style='color:{colour}'>{status}</span>")
        self.progress.setVisible(True)
        total = max(1, s.total)
        self.progress.setRange(0, total)
        self.progress.setValue(min(s.step, total))
        self.progress.setFormat(f"{s.step} / {s.total} steps ({100 * s.fraction:.0f}%)" if s.total else "")
        p = s.last_progress
        parts = []
        if status in ("running", "starting"):
            if p:
                per_gpu, sps = p.samples_per_second_per_gpu, p.samples_per_second
                gpu = f" ({per_gpu:.1f} per GPU)" if per_gpu is not None and per_gpu != sps else ""
                parts += [f"ETA <b>{duration(p.eta_s)}</b>",
                          f"<b>{sps:.1f}</b> samples/s{gpu}" if sps is not None else "",
                          _fmt("loss {:.4f}", p.loss), _fmt("lr {:.2e}", p.lr)]
            else:
                parts.append("starting the engine…")
        elif status == "interrupted":
            parts.append("its process is gone (the app or the machine stopped?): Resume continues it from the "
                         "latest checkpoint")
        elif status == "failed":
            parts.append(f"<span style='color:#c62828'>{_escape(s.error or s.job_error or 'failed')}</span>")
        elif status == "cancelled":
            parts.append(f"cancelled at step {s.step}: Resume continues it")
        step, score = s.best
        if step is not None:
            parts.append(f"★ best at step {step}: mean R@1 {pct(score)}")
        if s.device:
            parts.append(s.device)
        self.stats.setText(" · ".join(x for x in parts if x))

    def _eval_metrics(self, state: RunState) -> tuple[dict[str, Any], str]:
        choice = self.eval_split.currentText()
        if choice == "test":
            return state.latest_metrics("test"), "test split, best checkpoint"
        if choice == "val: latest":
            evals = state.val_evals()
            if evals:
                return evals[-1].metrics, f"{state.val_split} at step {evals[-1].step}"
            return {}, ""
        step, _ = state.best
        return state.best_val_metrics(), f"{state.val_split} at the best step {step}" if step is not None else ""

    def _fill_eval_table(self) -> None:
        states = self._states()
        self.eval_table.setRowCount(0)
        if len(states) != 1:
            self.eval_caption.setText("Select one run.")
            return
        metrics, where = self._eval_metrics(states[0])
        rows = parse_metrics(metrics)
        self.eval_caption.setText(f"{where} — rates in %; double-click a row for its failures" if rows
                                  else "No evaluation yet.")
        self.eval_table.setRowCount(len(rows))
        bold = QFont(self.font())
        bold.setBold(True)
        for r, (direction, values) in enumerate(rows.items()):
            head = QTableWidgetItem(direction_label(direction))
            head.setData(Qt.ItemDataRole.UserRole, direction)
            self.eval_table.setVerticalHeaderItem(r, head)
            for c, col in enumerate(EVAL_COLUMNS):
                v = values.get(col)
                text = rate(v) if "@" in col else (f"{v:g}" if isinstance(v, (int, float)) else "–")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if direction == "mean":
                    item.setFont(bold)
                self.eval_table.setItem(r, c, item)
        if rows:
            self.eval_table.selectRow(0)

    def _fill_compare(self) -> None:
        states = self._states()
        self.config_diff.set_runs([(s.name, s.config) for s in states])
        table = self.compare_table
        table.clear()
        if len(states) < 2:
            self.compare_caption.setText("Select several runs (Ctrl+click in the table) to compare them side by "
                                         "side.")
            table.setRowCount(0)
            table.setColumnCount(0)
            return
        self.compare_caption.setText("Metrics in %, the best of each row in bold.")
        rows: list[tuple[str, list[Any], bool]] = [
            ("loss", [s.loss or s.config.get("loss", "") for s in states], False),
            ("status", [s.display_status for s in states], False),
            ("steps", [f"{s.step}/{s.total}" if s.total else "" for s in states], False),
            ("best step", [s.best[0] for s in states], False),
        ]
        for metric in ("R@1", "R@5", "R@10", "NDCG@5"):
            rows.append((f"val mean {metric} (best)", [s.best_val_metrics().get(f"mean_{metric}") for s in states],
                         True))
        directions: list[str] = []
        for s in states:
            for d in parse_metrics(s.latest_metrics("test")):
                if d not in directions:
                    directions.append(d)
        for d in directions:
            for metric in ("R@1", "R@5", "NDCG@5"):
                rows.append((f"test {direction_label(d)} {metric}",
                             [s.latest_metrics("test").get(f"{d}_{metric}") for s in states], True))
        table.setColumnCount(len(states))
        table.setHorizontalHeaderLabels([s.name for s in states])
        table.setRowCount(len(rows))
        bold = QFont(self.font())
        bold.setBold(True)
        for r, (label, values, is_rate) in enumerate(rows):
            table.setVerticalHeaderItem(r, QTableWidgetItem(label))
            numbers = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
            best = max(numbers) if is_rate and numbers else None
            for c, v in enumerate(values):
                text = rate(v) if is_rate else ("" if v is None else str(v))
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if best is not None and v == best and len(numbers) > 1:
                    item.setFont(bold)
                    item.setBackground(QColor(102, 187, 106, 60))
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        table.horizontalHeader().setDefaultSectionSize(130)
        for c in range(table.columnCount()):
            table.setColumnWidth(c, 130)

    def _fill_log(self, reset: bool = False) -> None:
        states = self._states()
        if len(states) != 1:
            if reset:
                self.log_view.setPlainText("Select one run to see its log." if len(states) > 1 else "")
                self._log_shown = None
            return
        s = states[0]
        if reset or self._log_shown is None or self._log_shown[0] != s.name:
            self.log_view.setPlainText("\n".join(s.log))
            self._log_shown = (s.name, s.log_total)
            self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())
            return
        shown = self._log_shown[1]
        if s.log_total > shown:
            start = max(0, shown - s.log_dropped)
            bar = self.log_view.verticalScrollBar()
            at_end = bar.value() >= bar.maximum() - 4
            for line in s.log[start:]:
                self.log_view.appendPlainText(line)
            self._log_shown = (s.name, s.log_total)
            if at_end:
                bar.setValue(bar.maximum())

    # ---- lifetime
    def shutdown(self) -> None:
        """Stop following (runs started here keep going: they are detached processes)."""
        self.runs.close()

    def running_runs(self) -> list[str]:
        """Runs this application started that are still training (they go on after it quits)."""
        return self.runs.jobs.running(self.workspace)


def _fmt(template: str, value: Any) -> str:
    return template.format(value) if isinstance(value, (int, float)) else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# The role the table model puts run names under (re-exported for tests and other pages).
RUN_NAME_ROLE = NameRole
