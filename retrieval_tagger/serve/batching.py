"""Micro-batching: concurrent tag requests for one index run as one batch, so the encoders
work on many products at once under load, while a lone request runs at once.

Batches for an index run one at a time, in one worker thread (model work never blocks the
event loop: ``/health`` answers while tagging). A request that finds the worker idle runs
at once (after ``window_ms``, 0 by default); requests that arrive while a batch runs wait
and run together as the next batch, up to ``max_products`` (the rest: the batch after).
Only requests asking for the same options share a batch. Tagging is batch-independent
(retrieval_tagger/index/exact.py), so a product gets the same tags whoever shares its batch.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

DEFAULT_WINDOW_MS = 0.0
DEFAULT_MAX_PRODUCTS = 256


@dataclass
class _Waiting:
    products: list
    future: asyncio.Future


@dataclass
class _Group:
    options: dict
    waiting: list[_Waiting] = field(default_factory=list)


class MicroBatcher:
    """Gathers :meth:`submit` calls for one index; ``run(products, options)`` tags a
    batch (in the worker thread) and returns one result per product. ``on_batch`` is told
    each batch's size (for metrics)."""

    def __init__(self, run: Callable[[list, dict], list], window_ms: float = DEFAULT_WINDOW_MS,
                 max_products: int = DEFAULT_MAX_PRODUCTS, on_batch: Callable[[int], None] | None = None, name: str = "index"):
        self.run = run
        self.window_s = max(0.0, window_ms / 1000.0)
        self.max_products = max(1, max_products)
        self.on_batch = on_batch
        self._groups: dict[str, _Group] = {}  # waiting requests by options, oldest group first
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"rtag-tag-{name}")

    async def submit(self, products: list, options: dict) -> list:
        """The results for ``products`` (in order) once the batch holding them has run."""
        loop = asyncio.get_running_loop()
        key = json.dumps(options, sort_keys=True, default=str)
        group = self._groups.setdefault(key, _Group(options))
        future = loop.create_future()
        group.waiting.append(_Waiting(products, future))
        if not self._busy and self._timer is None:
            if self.window_s > 0:
                self._timer = loop.call_later(self.window_s, self._start_next)
            else:
                self._start_next()
        return await future

    def _start_next(self) -> None:
        """Run the oldest group's waiting requests (up to ``max_products``) as one batch."""
        self._timer = None
        if self._busy or not self._groups:
            return
        key = next(iter(self._groups))
        group = self._groups[key]
        taken, size = [], 0
        while group.waiting and (not taken or size + len(group.waiting[0].products) <= self.max_products):
            item = group.waiting.pop(0)
            taken.append(item)
            size += len(item.products)
        if not group.waiting:
            del self._groups[key]
        products = [p for item in taken for p in item.products]
        self._busy = True
        if self.on_batch is not None:
            self.on_batch(len(products))
        task = asyncio.get_running_loop().run_in_executor(self._worker, self.run, products, group.options)
        task.add_done_callback(lambda done: self._finished(done, taken))

    def _finished(self, done: asyncio.Future, taken: list[_Waiting]) -> None:
        self._busy = False
        _hand_out(done, taken)
        self._start_next()

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)


def _hand_out(done: asyncio.Future, taken: list[_Waiting]) -> None:
    """Each request's slice of the batch's results, or the batch's exception."""
    error = None if done.cancelled() else done.exception()
    results = done.result() if error is None and not done.cancelled() else None
    start = 0
    for item in taken:
        count = len(item.products)
        if not item.future.done():
            if results is not None:
                item.future.set_result(results[start:start + count])
            else:
                item.future.set_exception(error or asyncio.CancelledError())
        start += count
