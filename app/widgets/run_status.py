"""The selected run's header on the Training page: its name and status, a progress bar, and its figures (ETA,
samples/s, loss, learning rate, best step, device; or how it ended)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from app.runs import RunState
from app.runs_table import STATUS_COLOURS
from engine.fmt import pct


def duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def _fmt(template: str, value: Any) -> str:
    return template.format(value) if isinstance(value, (int, float)) else ""


class RunStatus(QWidget):
    """``RunStatus(states)``: ``states()`` gives the runs shown. Attributes: ``run_title``, ``progress``,
    ``stats``."""

    def __init__(self, states: Callable[[], list[RunState]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states = states
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
        head = QHBoxLayout()
        head.addWidget(self.run_title)
        head.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.stats)

    def refresh(self) -> None:
        states = self.states()
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
        self.stats.setText(" · ".join(x for x in _figures(s) if x))


def _figures(s: RunState) -> list[str]:
    """The run's figures, in words (rich text)."""
    status = s.display_status
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
        parts.append(f"<span style='color:#c62828'>{html.escape(s.error or s.job_error or 'failed', quote=False)}"
                     "</span>")
    elif status == "cancelled":
        parts.append(f"cancelled at step {s.step}: Resume continues it")
    step, score = s.best
    if step is not None:
        parts.append(f"★ best at step {step}: mean R@1 {pct(score)}")
    if s.device:
        parts.append(s.device)
    return parts
