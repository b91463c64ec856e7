"""The Training page: launch runs, follow them live, compare them, and look at where they fail.

Left, the new-run form. Right, the runs table (name, loss, dataset, status, progress, ★ best metrics) with
Cancel / Resume / Delete, and under it the selected run: a progress bar with ETA and samples/s, then tabs
with the curves (loss and its parts; eval metrics with a ★ at the best checkpoint), the evaluation table
(from which the failure browser opens), the comparison of several runs (metrics side by side and the
configuration difference) and the log. Selecting several runs overlays their curves.

The page holds the runs table, the buttons and the selection; each part below the table is its own widget:
:class:`~app.widgets.run_status.RunStatus` (the header), :class:`~app.widgets.training_curves.TrainingCurves`,
:class:`~app.widgets.evaluation_table.EvaluationView`, :class:`~app.widgets.run_comparison.RunComparison` and
:class:`~app.widgets.run_log.RunLog`, each reading the selected runs through the page; the runs table's Progress
column is drawn by :class:`~app.widgets.progress_delegate.ProgressDelegate`, the form is
:class:`~app.widgets.run_form.RunForm`.

Everything slow happens elsewhere: the engine trains in a detached process (:class:`app.training_jobs.TrainingJobs`)
that goes on when the app quits, the catalogue, the events files and the logs are read by
:class:`app.runs.RunsModel`'s worker, and the page only appends the new points to its charts.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.runs import RunsModel, RunState
from app.runs_table import PROGRESS_COLUMN, NameRole, RunsTableModel
from app.widgets.evaluation_table import EvaluationView
from app.widgets.failure_browser import FailureBrowser
from app.widgets.mislabelled_browser import MislabelledBrowser
from app.widgets.progress_delegate import ProgressDelegate
from app.widgets.run_comparison import RunComparison
from app.widgets.run_form import LaunchRequest, RunForm
from app.widgets.run_log import RunLog
from app.widgets.run_status import RunStatus
from app.widgets.tensorboard_button import TensorBoardButton
from app.widgets.training_curves import TrainingCurves
from engine.fmt import pct
from engine.workspace import Workspace

RESUMABLE = ("cancelled", "failed", "interrupted")


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
        self._pending_select: str | None = None
        self._auto_selected = False
        self._browsers: list[FailureBrowser | MislabelledBrowser] = []
        self._announce_end: set[str] = set()  # runs started here whose end the notice will announce

        scroll = self._build_form()
        self._build_runs_table()
        runs_box = self._build_runs_box()
        self._build_run_header()
        self._build_curves()
        self._build_evaluation()
        self._build_compare()
        self._build_log_view()
        details = self._build_details()

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
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the form fits its column
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(form_box)
        scroll.setMinimumWidth(300)
        scroll.setMaximumWidth(380)
        self._form_scroll = scroll
        self.form.advanced_toggle.toggled.connect(self._fit_form_column)
        self.form.start_from.changed.connect(self._fit_form_column)
        self._fit_form_column()
        return scroll

    def _fit_form_column(self, *_: object) -> None:
        """The form's column as wide as the form needs (Advanced open, a weights file), up to its maximum: no
        field, message or the Launch button ever goes behind the column's edge."""
        scroll = self._form_scroll
        box = scroll.widget()
        box.adjustSize()
        need = box.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 2
        scroll.setMinimumWidth(max(300, min(scroll.maximumWidth(), need)))

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
        self.run_status = RunStatus(self._states)
        self.run_title, self.progress, self.stats = self.run_status.run_title, self.run_status.progress, \
            self.run_status.stats

    def _build_curves(self) -> None:
        """The Curves tab: loss and validation charts."""
        self.curves = TrainingCurves(self._states)
        self.loss_chart, self.eval_chart = self.curves.loss_chart, self.curves.eval_chart
        self.show_parts, self.metric_choice = self.curves.show_parts, self.curves.metric_choice
        self.full_scale = self.curves.full_scale

    def _build_evaluation(self) -> None:
        """The Evaluation tab: retrieval metrics per direction, and the by-category evaluation."""
        self.evaluation = EvaluationView(self._states)
        self.evaluation.failuresRequested.connect(lambda: self.open_failures())
        self.evaluation.by_category.mislabelledRequested.connect(
            lambda true, predicted: self.open_mislabelled((true, predicted) if true else None))
        self.eval_split, self.eval_caption = self.evaluation.eval_split, self.evaluation.eval_caption
        self.eval_table, self.eval_failures_button = self.evaluation.eval_table, self.evaluation.eval_failures_button

    def _build_compare(self) -> None:
        """The Compare tab: the selected runs side by side, and their config diff."""
        self.comparison = RunComparison(self._states)
        self.compare_caption, self.compare_table = self.comparison.compare_caption, self.comparison.compare_table
        self.config_diff = self.comparison.config_diff

    def _build_log_view(self) -> None:
        """The Log tab: the run's log and events."""
        self.log_view = RunLog(self._states)

    def _build_details(self) -> QWidget:
        """The selected run(s): header, figures and the tabs."""
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.evaluation, "Evaluation")
        self.tabs.addTab(self.comparison, "Compare")
        self.tabs.addTab(self.log_view, "Log")
        self.tensorboard_button = TensorBoardButton(self.workspace)  # shown when the package is installed
        self.tabs.setCornerWidget(self.tensorboard_button)

        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.run_status)
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
            direction = self.evaluation.direction()
        if split is None:
            split = self.evaluation.split_of(state)
        browser = FailureBrowser(self.workspace, state.name, split, direction, k, parent=self)
        browser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        browser.destroyed.connect(lambda _o=None, b=browser: self._browsers.remove(b) if b in self._browsers else None)
        self._browsers.append(browser)
        browser.show()
        return browser

    def open_mislabelled(self, pair: tuple[str, str] | None = None) -> MislabelledBrowser | None:
        """The items the by-category evaluation shown labelled wrongly (``pair``: only those true -> predicted)."""
        states, event = self._states(), self.evaluation.by_category.current()
        if len(states) != 1 or event is None or not event.wrong:
            return None
        browser = MislabelledBrowser(self.workspace, states[0].name, event, pair, parent=self)
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
        self.curves.redraw()
        self.run_status.refresh()
        self.evaluation.refresh()
        self.comparison.refresh()
        self.log_view.refresh(reset=True)
        self._update_buttons()

    def _update_run(self, name: str) -> None:
        """New events for a shown run: append its new points, refresh the small things."""
        state = self.runs.state(name)
        if state is None:
            return
        new_evals = self.curves.update_run(state)  # new retrieval evaluations
        if new_evals or self.evaluation.by_category.has_new():  # or by-category ones
            self.evaluation.refresh()
        self.run_status.refresh()
        if len(self._selected) > 1:
            self.comparison.refresh()
        self.log_view.refresh()

    # ---- lifetime
    def shutdown(self) -> None:
        """Stop following (runs started here keep going: they are detached processes) and TensorBoard."""
        self.runs.close()
        self.tensorboard_button.stop()

    def running_runs(self) -> list[str]:
        """Runs this application started that are still training (they go on after it quits)."""
        return self.runs.jobs.running(self.workspace)


# The role the table model puts run names under (re-exported for tests and other pages).
RUN_NAME_ROLE = NameRole
