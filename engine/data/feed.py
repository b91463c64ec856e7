"""Batches to the training step: one long-lived iterator over the run, prefetching ahead of the step.

:class:`BatchFeed` wraps the run's loader iterator (see :class:`~engine.data.multifold.RunBatchSampler`):

* ``background=True`` (the packed store, whose loader has no worker processes): a thread builds the next
  batches (memory-map reads, no decoding) while the step runs, ``depth`` batches ahead, pinned on CUDA;
* on CUDA, the next batch is copied to the device (``non_blocking`` from pinned memory) and normalised on a
  side stream while the current step runs; the step's stream waits for it only when it takes the batch;
* the normalisation (:class:`~engine.data.packed.PixelNormalizer`) and channels-last layout are applied to
  the images on the device.

:meth:`BatchFeed.take` gives the next ``n`` batches (the loop asks one epoch at a time); :meth:`BatchFeed.close`
stops the thread and the loader's workers.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

Batch = dict[str, torch.Tensor]
_END = object()


def channels_last_images(images: torch.Tensor) -> torch.Tensor:
    """``[..., 3, H, W]`` -> the same values with channels-last strides per image (a 5-D batch stays viewable)."""
    shape = images.shape
    flat = images.reshape(-1, *shape[-3:]).contiguous(memory_format=torch.channels_last)
    return flat.view(shape)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class BackgroundIterator:
    """Runs an iterator in a daemon thread, up to ``depth`` items ahead (exceptions re-raised in the reader)."""

    def __init__(self, source: Iterable[Any], depth: int = 2, transform: Callable[[Any], Any] | None = None) -> None:
        self._source = iter(source)
        self._transform = transform
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="crossfold-batches", daemon=True)
        self._thread.start()

    def _put(self, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for value in self._source:
                if self._transform is not None:
                    value = self._transform(value)
                if not self._put(value):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            self._put(_Failure(exc))
            return
        self._put(_END)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        value = self._queue.get()
        if value is _END:
            self._done = True
            raise StopIteration
        if isinstance(value, _Failure):
            self._done = True
            raise value.exc
        return value

    def close(self) -> None:
        self._stop.set()
        while True:  # free a blocked put
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=30)


class BatchFeed:
    """The run's batches on the device, prefetched; see the module docstring."""

    def __init__(
        self,
        loader: Iterable[Batch],
        device: torch.device,
        normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
        background: bool = False,
        channels_last: bool = False,
        depth: int = 2,
    ) -> None:
        self.device = device
        self.normalize = normalize
        self.channels_last = channels_last
        self._cuda = device.type == "cuda"
        self._loader_iter = iter(loader)
        pin = self._cuda and background
        self._source: Iterator[Batch] = (
            BackgroundIterator(self._loader_iter, depth, transform=_pin if pin else None) if background
            else self._loader_iter
        )
        self._stream = torch.cuda.Stream(device) if self._cuda else None
        self._ahead: Batch | None = None
        self._exhausted = False

    def _prepare(self, batch: Batch) -> Batch:
        out = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        images = out["images"]
        if self.normalize is not None:
            images = self.normalize(images)
        if self.channels_last:
            images = channels_last_images(images)
        out["images"] = images
        return out

    def _fetch(self) -> Batch | None:
        try:
            batch = next(self._source)
        except StopIteration:
            self._exhausted = True
            return None
        if self._stream is None:
            return batch  # the CPU: prepared when taken
        with torch.cuda.stream(self._stream):
            return self._prepare(batch)

    def __next__(self) -> Batch:
        if self._ahead is None and not self._exhausted:
            self._ahead = self._fetch()
        batch = self._ahead
        if batch is None:
            raise StopIteration
        if self._stream is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(self._stream)
            for value in batch.values():
                value.record_stream(current)
            self._ahead = self._fetch()  # the next copy starts now, on the side stream, behind this step
            return batch
        self._ahead = None
        return self._prepare(batch)

    def __iter__(self) -> Iterator[Batch]:
        return self

    @property
    def exhausted(self) -> bool:
        """The run's batches have all been taken."""
        return self._exhausted and self._ahead is None

    def take(self, n: int) -> Iterator[Batch]:
        """The next ``n`` batches (fewer if the run's batches end)."""
        for _ in range(n):
            try:
                yield next(self)
            except StopIteration:
                return

    def close(self) -> None:
        if isinstance(self._source, BackgroundIterator):
            self._source.close()
        shutdown = getattr(self._loader_iter, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def _pin(batch: Batch) -> Batch:
    return {k: v.pin_memory() for k, v in batch.items()}
