"""The Training page's Curves tab: the loss (and its parts) and a validation metric over the steps, with a ★ at each
shown run's best validation, on the validation curve it was picked by; several runs are overlaid, each in its colour
and marker, under a warning when they were trained on different datasets (their scores are not comparable).

``TrainingCurves(states)``: ``states()`` gives the runs shown (the page's selection). :meth:`redraw` draws them
from scratch; :meth:`update_run` appends a followed run's new points (a full redraw only when a series shrank or
appeared).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.runs import RunState
from app.widgets.labels import direction_label
from app.widgets.line_chart import MARKERS, LineChart, Marker, palette_colour
from engine.metric_keys import CURVE_RATES, SUMMARY_ROW, directions_of, mean_key, metric_key

METRICS = CURVE_RATES


def mixed_datasets_warning(states: list[RunState]) -> str:
    """The line an overlay of runs on different datasets carries ("" when they share one, or one run is shown)."""
    datasets = list(dict.fromkeys(s.dataset or "?" for s in states))
    if len(states) < 2 or len(datasets) < 2:
        return ""
    return (f"⚠ These runs were trained on different datasets ({', '.join(datasets)}): their curves and scores "
            "are not comparable.")


class TrainingCurves(QWidget):
    """Attributes: ``loss_chart``, ``eval_chart``, ``show_parts`` (draw the loss's parts), ``metric_choice`` (the
    validation metric drawn), ``full_scale`` (the validation chart on 0-100 %)."""

    def __init__(self, states: Callable[[], list[RunState]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states = states
        self._drawn: dict[tuple[str, str], int] = {}
        self._eval_seen: dict[str, int] = {}

        self.loss_chart = LineChart("Training loss", "step", "")
        self.loss_chart.empty_text = "Select a run to see its loss"
        self.eval_chart = LineChart("Validation", "step", "")
        self.eval_chart.y_format = "percent"
        self.eval_chart.y_floor, self.eval_chart.y_ceiling = 0.0, 1.0  # autoscaled inside 0-100 %
        self.eval_chart.empty_text = "No evaluation yet"
        self.loss_chart.x_integer = self.eval_chart.x_integer = True
        self.show_parts = QCheckBox("loss parts")
        self.show_parts.setChecked(True)
        self.show_parts.toggled.connect(self.redraw)
        self.metric_choice = QComboBox()
        self.metric_choice.addItems(METRICS)
        self.metric_choice.currentIndexChanged.connect(self.redraw)
        chart_controls = QHBoxLayout()
        chart_controls.addWidget(self.show_parts)
        chart_controls.addStretch(1)
        chart_controls.addWidget(self._build_scale_toggle())
        chart_controls.addWidget(QLabel("Metric"))
        chart_controls.addWidget(self.metric_choice)
        charts = QHBoxLayout()
        charts.addWidget(self.loss_chart, 1)
        charts.addWidget(self.eval_chart, 1)
        self.overlay_warning = QLabel()
        self.overlay_warning.setObjectName("overlay_warning")
        self.overlay_warning.setWordWrap(True)
        self.overlay_warning.setStyleSheet("background: #fef7e0; border: 1px solid #f9e0a2; border-radius: 4px; "
                                           "padding: 3px 6px; color: #7a5400;")
        self.overlay_warning.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(chart_controls)
        layout.addWidget(self.overlay_warning)
        layout.addLayout(charts, 1)

    def _build_scale_toggle(self) -> QCheckBox:
        """The validation chart follows its data; this box pins it to the whole 0-100 % scale."""
        self.full_scale = QCheckBox("0–100 %")
        self.full_scale.setToolTip("Show the validation chart on the full 0–100 % scale (off: zoom to the data)")
        self.full_scale.toggled.connect(self._set_eval_scale)
        return self.full_scale

    def _set_eval_scale(self, full: bool) -> None:
        self.eval_chart.y_min, self.eval_chart.y_max = (0.0, 1.0) if full else (None, None)
        self.eval_chart.update()

    # ---- drawing
    def _series_sources(self, state: RunState, overlay: bool) -> list[tuple[str, list[tuple[int, float]]]]:
        sources = [("loss", state.loss_points)]
        if not overlay and self.show_parts.isChecked():
            sources += [(f"part:{k}", v) for k, v in state.part_points.items()]
        return sources

    def redraw(self) -> None:
        """Both charts from scratch, for the runs shown."""
        self.loss_chart.clear()
        self._drawn.clear()
        states = self.states()
        overlay = len(states) > 1
        warning = mixed_datasets_warning(states)
        self.overlay_warning.setText(warning)
        self.overlay_warning.setVisible(bool(warning))
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

    def update_run(self, state: RunState) -> bool:
        """New events for a shown run: append its new points (or redraw), the evaluations when there are new ones,
        and the markers. True when it has new evaluations."""
        if not self._append_points(state):
            self.redraw()
        evals = len(state.evals)
        changed = self._eval_seen.get(state.name) != evals
        if changed:
            self._eval_seen[state.name] = evals
            self._draw_evals()
        self._update_markers()
        return changed

    def _append_points(self, state: RunState) -> bool:
        """Append what is new; False when a full redraw is needed (a series shrank or appeared)."""
        overlay = len(self.states()) > 1
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
        states = self.states()
        metric = self.metric_choice.currentText()
        overlay = len(states) > 1
        split = states[0].val_split if len(states) == 1 else "val"
        chart.title = f"{split.capitalize()} {metric} (%)" + (" — mean over directions, overlay" if overlay else "")
        mean = mean_key(metric)
        for i, state in enumerate(states):
            evals = state.val_evals()
            if overlay:
                xs = [e.step for e in evals if mean in e.metrics]
                ys = [e.metrics[mean] for e in evals if mean in e.metrics]
                chart.set_series(f"{state.name}/{SUMMARY_ROW}", xs, ys, label=state.name, colour=palette_colour(i),
                                 dots=True, marker=MARKERS[i % len(MARKERS)])
                continue
            directions: list[str] = []
            for e in evals:
                for d in directions_of(e.metrics):
                    if d not in directions:
                        directions.append(d)
            for j, d in enumerate([*directions, SUMMARY_ROW]):
                key = metric_key(d, metric)
                points = [(e.step, e.metrics[key]) for e in evals if key in e.metrics]
                if not points:
                    continue
                summary = d == SUMMARY_ROW
                chart.set_series(f"{state.name}/{d}", [p[0] for p in points], [p[1] for p in points],
                                 label=SUMMARY_ROW if summary else direction_label(d),
                                 colour=QColor("#222222") if summary else palette_colour(j + 1),
                                 width=2.4 if summary else 1.3, dots=True)

    def _align_x(self) -> None:
        """Both charts span the same steps: from 0 to the last step trained by the shown runs."""
        last = max((s.loss_points[-1][0] for s in self.states() if s.loss_points), default=None)
        self.loss_chart.set_x_range(0, last)
        self.eval_chart.set_x_range(0, last)

    def _update_markers(self) -> None:
        """A ★ at each shown run's best validation: on its mean curve of the validation chart, the curve the best
        checkpoint is picked by (the loss chart carries none: the loss does not pick it)."""
        self._align_x()
        mean = mean_key(self.metric_choice.currentText())
        markers = []
        states = self.states()
        for i, state in enumerate(states):
            step, _ = state.best
            if step is None:
                continue
            colour = palette_colour(i) if len(states) > 1 else QColor("#f2b200")  # overlaid: the run's colour
            value = next((e.metrics[mean] for e in state.val_evals() if e.step == step and mean in e.metrics), None)
            if value is not None:
                markers.append(Marker(step, value, colour=colour))
        self.eval_chart.set_markers(markers)
        self.loss_chart.set_markers([])
