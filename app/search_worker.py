"""Searches off the GUI thread: one :class:`~engine.search.Searcher` per run, kept alive between queries.

:class:`SearchService` (a ``QObject`` used on the GUI thread) takes queries on named *channels* (the Search
page uses ``"main"``, the A/B comparison ``"A"`` and ``"B"``) and answers each by signal:

* ``finished(token, channel, SearchResult)``
* ``needs_index(token, channel, IndexNeeded)`` when the run has no usable index for the target (none in the
  catalogue, or a missing or stale file): the page offers to build it
* ``failed(token, channel, message)``

Rules:

* **One search at a time per run.** A run's ``Searcher`` (its encoder and opened hnswlib indexes) is used by
  one worker at a time: each run has a *lane*; while it is busy, the next queries wait in it. Different runs
  search concurrently (on the service's own small thread pool).
* **Newest query wins.** A new query on a channel supersedes the channel's older ones: one still waiting is
  dropped without running, and the answer of one already running is dropped when it arrives.
* The first query of a run loads its checkpoint and indexes (seconds): on the worker, like everything else
  here (encoding, index loading, SQL). :meth:`SearchService.warm` does it ahead, with one query of its own whose
  answer nobody hears (the Search page asks for it when it opens a run), so the user's first query is warm.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.heap import freeze_long_lived
from app.thread_priority import lower_this_thread
from app.widgets.item_grid import CatalogHandle
from engine.catalog import Catalog
from engine.catalog.models import PRETRAINED_RUN
from engine.errors import CrossfoldError
from engine.index import registry
from engine.index.errors import StaleIndexError
from engine.metric_keys import validation_score
from engine.search import TARGETS, Searcher, SearchError, SearchResult, default_run
from engine.threads import one_torch_thread
from engine.workspace import Workspace

log = logging.getLogger(__name__)

WARM_CHANNEL = "warm"  # the warm-up query's channel: its answer is dropped
WARM_TEXT = "a photo"
TARGET_LABELS = {"shapes": "Shapes", "images": "Images", "captions": "Captions"}
KIND_LABELS = {"shape-text": "shape", "image-text": "image"}


@dataclass(frozen=True)
class SearchQuery:
    """What to search for and where. ``text`` with ``image``, ``mesh`` or ``item_id`` is a fused query.

    A ``mesh`` file is rendered (with the view spec of the run's dataset) and encoded on the worker."""

    run: str
    target: str = "shapes"
    text: str = ""
    image: str | None = None
    item_id: int | None = None
    k: int = 24
    dataset: str | None = None
    mesh: str | None = None
    up_axis: str | None = None  # a mesh query's up axis (None: its run's dataset's)

    @property
    def empty(self) -> bool:
        return not (self.text.strip() or self.image or self.mesh or self.item_id is not None)

    def with_run(self, run: str) -> SearchQuery:
        return replace(self, run=run)

    def describe(self, item_label: str | None = None) -> str:
        """``“red chair” + image chair.png``; ``item_label`` names the item (default: its id)."""
        parts = []
        if self.text.strip():
            parts.append(f"“{self.text.strip()}”")
        if self.image:
            parts.append(f"image {Path(self.image).name}")
        if self.mesh:
            parts.append(f"mesh {Path(self.mesh).name}")
        if self.item_id is not None:
            parts.append(f"item {item_label or self.item_id}")
        return " + ".join(parts) or "nothing"


@dataclass(frozen=True)
class IndexNeeded:
    """The run cannot be searched for ``target`` until an index of ``dataset`` is built (None: no dataset fits)."""

    run: str
    target: str
    dataset: str | None
    message: str
    stale: bool = False

    def build_args(self) -> list[str]:
        """Arguments of ``trainer`` that build it (with the app's ``--workspace`` added by ``EngineJob``)."""
        args = ["index", "--run", self.run]
        if self.dataset:
            args += ["--dataset", self.dataset]
        return [*args, "--events", "-"]


@dataclass(frozen=True)
class RunChoice:
    """A finished run as the run selector shows it; ``targets``: the targets it has an index for."""

    name: str
    loss: str
    dataset: str
    targets: frozenset[str] = frozenset()
    score: float | None = None  # the run's best validation mean R@1 (None: not evaluated)
    zero_shot: bool = False  # a run of kind pretrained: pretrained weights as they are, no training
    weights: str = ""  # a zero-shot run's model and weights ("MODEL, TAG|FILE")
    kind: str = ""  # its dataset's kind ("shape-text", "image-text"; "" when the dataset is gone)

    def serves(self, target: str) -> bool:
        """It can answer ``target``: it has the index, or can build one of its own kind of data (a run is never
        offered an index of a dataset of the other kind)."""
        wanted = TARGETS[target][0]
        return target in self.targets or not self.kind or wanted is None or wanted == self.kind

    def label(self, target: str) -> str:
        if self.zero_shot:
            text = f"{self.name} (zero-shot)" + (f"  ·  on {self.dataset}" if self.dataset else "")
        else:
            text = f"{self.name}  ·  {self.loss} on {self.dataset}" if self.dataset else f"{self.name}  ·  {self.loss}"
        return text if target in self.targets else f"{text}  (no {target} index)"

    def tooltip(self, target: str) -> str:
        tips = [f"Zero-shot: {self.weights or 'pretrained weights'} as they are, no training"] if self.zero_shot else []
        if target not in self.targets:
            tips.append("No index for this target yet: searching offers to build it")
        return "\n".join(tips)


@dataclass(frozen=True)
class RunList:
    runs: tuple[RunChoice, ...]
    defaults: dict[str, str] = field(default_factory=dict)  # target -> default run (engine.search.default_run)

    def names(self) -> list[str]:
        return [r.name for r in self.runs]

    def get(self, name: str) -> RunChoice | None:
        return next((r for r in self.runs if r.name == name), None)

    def default_for(self, target: str) -> str | None:
        """``default_run`` for the target; else the newest finished run that can build its index; else the
        newest."""
        serving = [r for r in self.runs if r.serves(target)]
        return self.defaults.get(target) or next((r.name for r in serving or self.runs), None)

    def best_on(self, dataset: str, target: str) -> str | None:
        """The run trained on ``dataset`` with the best validation score that can search ``target`` (those with
        the index first; the newest among equals); None when no run was trained on it."""
        own = [r for r in self.runs if r.dataset == dataset and r.serves(target)]
        ready = [r for r in own if target in r.targets] or own
        if not ready:
            return None
        return max(ready, key=lambda r: (r.score if r.score is not None else float("-inf"), -ready.index(r))).name


def target_of_kind(kind: str) -> str | None:
    """The target that searches a dataset of ``kind``'s items ("shapes" for shape-text, "images" for image-text)."""
    return next((t for t, (k, _m) in TARGETS.items() if k == kind), None)


# ---- catalogue helpers (plain functions: they run on workers) -----------------------------------------------
def _covers(kinds: dict[int, str], row: Any, target: str) -> bool:
    kind, modality = TARGETS[target]
    return row.modality == modality and (kind is None or kinds.get(row.dataset_id) == kind)


def list_runs(catalog: Catalog) -> RunList:
    """The finished runs, newest first, with the targets each can be searched for, and the default per target."""
    datasets = catalog.datasets()
    kinds = {d.id: d.kind for d in datasets}
    names = {d.id: d.name for d in datasets}
    choices = []
    for run in reversed(catalog.runs()):
        if run.status != "done":
            continue
        rows = registry.rows(catalog, run_id=run.id)
        targets = frozenset(t for t in TARGETS if any(_covers(kinds, row, t) for row in rows))
        dataset = names.get(run.dataset_id) or str((run.config or {}).get("dataset", ""))
        score = validation_score(run.metrics)
        config = run.config or {}
        zero_shot = getattr(run, "kind", None) == PRETRAINED_RUN
        weights = f"{config.get('model', '')}, {config.get('pretrained', '')}".strip(", ") if zero_shot else ""
        choices.append(RunChoice(run.name, run.loss or str(config.get("loss", "")), dataset, targets, score,
                                 zero_shot, weights, kinds.get(run.dataset_id or -1, "")))
    defaults = {}
    for target in TARGETS:
        try:
            defaults[target] = default_run(catalog, target)
        except SearchError:
            pass
    return RunList(tuple(choices), defaults)


def dataset_to_index(catalog: Catalog, run_name: str, target: str) -> str | None:
    """The dataset whose index the run needs for ``target``: the run's own when its kind fits, else the first
    dataset of the target's kind that already has a row (a stale one), else the first of that kind; never one of
    another kind than the run's own dataset (None then)."""
    kind, modality = TARGETS[target]
    run = catalog.require_run(run_name)
    datasets = catalog.datasets()
    own_kind = next((d.kind for d in datasets if d.id == run.dataset_id), None)
    fitting = [d for d in datasets if (kind is None or d.kind == kind) and own_kind in (None, d.kind)]
    if not fitting:
        return None
    own = [d for d in fitting if d.id == run.dataset_id]
    with_row = {row.dataset_id for row in registry.rows(catalog, run_id=run.id) if row.modality == modality}
    return (own or [d for d in fitting if d.id in with_row] or fitting)[0].name


def index_needed(catalog: Catalog, run_name: str, target: str) -> IndexNeeded | None:
    """None when the run has an index row for the target; else what to build."""
    kind, _modality = TARGETS[target]
    run = catalog.require_run(run_name)
    kinds = {d.id: d.kind for d in catalog.datasets()}
    if any(_covers(kinds, row, target) for row in registry.rows(catalog, run_id=run.id)):
        return None
    dataset = dataset_to_index(catalog, run_name, target)
    own_kind = kinds.get(run.dataset_id or -1)
    if dataset is None and kind is not None and own_kind not in (None, kind) and kind in kinds.values():
        return IndexNeeded(run_name, target, None,
                           f"Run {run_name} was trained on {KIND_LABELS.get(own_kind, own_kind)} data: it does not "
                           f"search {target}. Pick a run of a {KIND_LABELS.get(kind, kind)} dataset.")
    if dataset is None:
        what = f"{KIND_LABELS.get(kind or '', kind)}-text" if kind else "any"
        return IndexNeeded(run_name, target, None,
                           f"The workspace has no {what} dataset, so there is nothing to search for {target}.")
    return IndexNeeded(run_name, target, dataset, f"Run {run_name} has no {target} index of {dataset} yet.")


# ---- the worker ---------------------------------------------------------------------------------------------
@dataclass
class _Answer:
    token: int
    channel: str
    query: SearchQuery
    result: SearchResult | None = None
    needs_index: IndexNeeded | None = None
    error: str = ""


class _Lane:
    """One run: its Searcher (created on the first query), the query running and those waiting (per channel)."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.searcher: Searcher | None = None
        self.running: _Job | None = None
        self.last: _Job | None = None  # the last one run, kept until the next ends (its worker may still unwind)
        self.waiting: OrderedDict[str, _Job] = OrderedDict()
        self.forget = False  # drop the Searcher when the running query ends (its indexes were rebuilt)



class _Relay(QObject):
    """Carries answers to the GUI thread (it lives there, so the connection is queued)."""

    answered = Signal(object)


class _Job(QRunnable):
    def __init__(self, token: int, channel: str, query: SearchQuery, lane: _Lane, workspace: Workspace,
                 catalog: CatalogHandle, device: str, relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the service keeps it while it is queued or running
        self.token, self.channel, self.query = token, channel, query
        self.lane, self.workspace, self.catalog, self.device = lane, workspace, catalog, device
        self.relay = relay  # a Python reference: the relay outlives this run even if the service is gone

    def run(self) -> None:
        lower_this_thread()
        answer = _Answer(self.token, self.channel, self.query)
        try:
            self._search(answer)
        except StaleIndexError as exc:  # a missing, stale or corrupt index file: rebuild it
            answer.needs_index = self._stale(exc)
        except CrossfoldError as exc:
            answer.error = str(exc)
        except Exception as exc:  # handed to the GUI as a message, never raised on a worker
            log.exception("search failed")
            answer.error = f"{type(exc).__name__}: {exc}"
        self.relay.answered.emit(answer)

    def _search(self, answer: _Answer) -> None:
        q = self.query
        one_torch_thread()
        catalog = self.catalog()
        need = index_needed(catalog, q.run, q.target)
        if need is not None:
            answer.needs_index = need
            return
        if self.lane.searcher is None:
            self.lane.searcher = Searcher(self.workspace, q.run, device=self.device, catalog=catalog)
            freeze_long_lived()  # the model and its modules live as long as the lane: see app/heap.py
        item_key = item_dataset = None
        if q.item_id is not None:
            item = catalog.item(q.item_id)
            if item is None:
                raise SearchError(f"item {q.item_id} is no longer in the catalogue")
            item_key = item.key
            item_dataset = next((d.name for d in catalog.datasets() if d.id == item.dataset_id), None)
        answer.result = self.lane.searcher.search(
            text=q.text.strip() or None, image=q.image or None, mesh=q.mesh or None, up_axis=q.up_axis,
            item_key=item_key,
            item_dataset=item_dataset,
            target=q.target, dataset=q.dataset, k=q.k,
        )

    def _stale(self, exc: StaleIndexError) -> IndexNeeded:
        q = self.query
        try:
            dataset = dataset_to_index(self.catalog(), q.run, q.target)
        except CrossfoldError:
            dataset = None
        problem = exc.problem.rstrip(".")
        return IndexNeeded(q.run, q.target, dataset, f"The {q.target} index of run {q.run} cannot be used: "
                           f"{problem}.", stale=True)


class SearchService(QObject):
    """Queries in (on channels), answers out by signal; see the module docstring. Use it on the GUI thread."""

    finished = Signal(int, str, object)  # token, channel, SearchResult
    needs_index = Signal(int, str, object)  # token, channel, IndexNeeded
    failed = Signal(int, str, str)  # token, channel, message
    busy_changed = Signal(str, bool)  # channel, whether a query of it is queued or running

    _tokens = itertools.count(1)

    def __init__(self, workspace: Workspace, catalog: CatalogHandle | None = None, device: str = "auto",
                 threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.catalog = catalog or CatalogHandle(workspace)
        self.device = device
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._relay = _Relay()
        self._relay.answered.connect(self._answered)
        self._lanes: dict[str, _Lane] = {}
        self._latest: dict[str, int] = {}  # channel -> token of its newest query
        self._busy: set[str] = set()
        self._closed = False
        self.dropped = 0  # answers of superseded queries dropped, and queries dropped before they ran

    # ---- public -----------------------------------------------------------------------------
    def search(self, channel: str, query: SearchQuery) -> int:
        """Queue ``query`` on ``channel`` (superseding the channel's older queries); returns its token."""
        token = next(self._tokens)
        self._latest[channel] = token
        self._drop_waiting(channel)
        lane = self._lanes.get(query.run)
        if lane is None:
            lane = self._lanes[query.run] = _Lane(query.run)
        job = _Job(token, channel, query, lane, self.workspace, self.catalog, self.device, self._relay)
        lane.waiting[channel] = job
        self._set_busy(channel, True)
        self._pump(lane)
        return token

    def warm(self, run: str | None, target: str) -> None:
        """Load ``run``'s model and indexes and run one query on a worker now, so the next query is answered warm;
        nothing is said of it (no busy state, no answer). A run already loaded or busy is left alone."""
        if not run or self._closed:
            return
        lane = self._lanes.setdefault(run, _Lane(run))
        if lane.searcher is not None or lane.running is not None or lane.waiting:
            return
        token = next(self._tokens)
        self._latest[WARM_CHANNEL] = token
        lane.waiting[WARM_CHANNEL] = _Job(token, WARM_CHANNEL, SearchQuery(run, target, text=WARM_TEXT, k=1), lane,
                                          self.workspace, self.catalog, self.device, self._relay)
        self._pump(lane)

    def cancel(self, channel: str) -> None:
        """Forget the channel's queries: a waiting one never runs, a running one's answer is dropped."""
        self._latest[channel] = next(self._tokens)
        self._drop_waiting(channel)
        self._set_busy(channel, False)

    def forget(self, run: str) -> None:
        """Drop the run's Searcher (after its indexes were rebuilt) so the next query opens them afresh."""
        lane = self._lanes.get(run)
        if lane is None:
            return
        if lane.running is None:
            lane.searcher = None
        else:
            lane.forget = True

    def is_current(self, token: int, channel: str) -> bool:
        return self._latest.get(channel) == token

    def busy(self, channel: str | None = None) -> bool:
        return bool(self._busy) if channel is None else channel in self._busy

    def searcher(self, run: str) -> Searcher | None:
        lane = self._lanes.get(run)
        return lane.searcher if lane is not None else None

    def running(self) -> int:
        """Queries queued or running, over all lanes."""
        return sum((lane.running is not None) + len(lane.waiting) for lane in self._lanes.values())

    def wait_idle(self, msecs: int = -1) -> bool:
        """Block until the workers are idle (for tests and shutdown; the GUI never calls it)."""
        return self._pool.waitForDone(msecs)

    def close(self) -> None:
        """No more answers; queries waiting are dropped (one running finishes on its worker, unheard)."""
        self._closed = True
        for lane in self._lanes.values():
            lane.waiting.clear()
        self._busy.clear()

    # ---- lanes ------------------------------------------------------------------------------
    def _drop_waiting(self, channel: str) -> None:
        for lane in self._lanes.values():
            if lane.waiting.pop(channel, None) is not None:
                self.dropped += 1

    def _pump(self, lane: _Lane) -> None:
        if self._closed or lane.running is not None or not lane.waiting:
            return
        _, job = lane.waiting.popitem(last=False)
        lane.running = job
        self._pool.start(job)

    def _answered(self, answer: _Answer) -> None:
        lane = self._lanes.get(answer.query.run)
        if lane is not None and lane.running is not None and lane.running.token == answer.token:
            lane.last, lane.running = lane.running, None
            if lane.forget:
                lane.searcher, lane.forget = None, False
            self._pump(lane)
        if self._closed or answer.channel == WARM_CHANNEL:
            return
        if not self.is_current(answer.token, answer.channel):
            self.dropped += 1
            return
        self._set_busy(answer.channel, False)
        if answer.needs_index is not None:
            self.needs_index.emit(answer.token, answer.channel, answer.needs_index)
        elif answer.result is not None:
            self.finished.emit(answer.token, answer.channel, answer.result)
        else:
            self.failed.emit(answer.token, answer.channel, answer.error or "the search failed")

    def _set_busy(self, channel: str, busy: bool) -> None:
        if busy == (channel in self._busy):
            return
        if busy:
            self._busy.add(channel)
        else:
            self._busy.discard(channel)
        self.busy_changed.emit(channel, busy)
