"""The micro-batcher: a lone request runs at once; requests arriving while a batch runs
share the next one; each gets its own slice back."""

from __future__ import annotations

import asyncio
import threading
import time

from retrieval_tagger.serve.batching import MicroBatcher


class Recorder:
    def __init__(self, fail: bool = False, seconds: float = 0.0):
        self.runs, self.threads, self.fail, self.seconds = [], set(), fail, seconds

    def __call__(self, products, options):
        self.runs.append((list(products), dict(options)))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        if self.fail:
            raise ValueError("boom")
        return [f"{p}:{options.get('top_n')}" for p in products]


def gather(batcher, *calls):
    async def main():
        return await asyncio.gather(*(batcher.submit(products, options) for products, options in calls), return_exceptions=True)

    try:
        return asyncio.run(main())
    finally:
        batcher.close()


def test_requests_arriving_while_a_batch_runs_share_the_next_batch():
    run, sizes = Recorder(seconds=0.05), []
    out = gather(MicroBatcher(run, on_batch=sizes.append), (["a"], {}), (["b", "c"], {}), (["d"], {}))
    assert out == [["a:None"], ["b:None", "c:None"], ["d:None"]]
    assert [products for products, _ in run.runs] == [["a"], ["b", "c", "d"]]  # a ran at once, alone
    assert sizes == [1, 3]
    assert run.threads and all(name.startswith("rtag-tag-") for name in run.threads)  # off the event loop


def test_a_window_gathers_even_an_idle_batcher():
    run = Recorder()
    gather(MicroBatcher(run, window_ms=50), (["a"], {}), (["b"], {}))
    assert [products for products, _ in run.runs] == [["a", "b"]]


def test_different_options_never_share_a_batch():
    run = Recorder(seconds=0.02)
    out = gather(MicroBatcher(run), (["a"], {"top_n": 1}), (["b"], {"top_n": 2}), (["c"], {"top_n": 1}), (["d"], {"top_n": 2}))
    assert out == [["a:1"], ["b:2"], ["c:1"], ["d:2"]]
    assert run.runs == [(["a"], {"top_n": 1}), (["b", "d"], {"top_n": 2}), (["c"], {"top_n": 1})]


def test_batches_hold_at_most_max_products_but_never_split_a_request():
    run = Recorder(seconds=0.02)
    gather(MicroBatcher(run, max_products=3), (["a"], {}), (["b", "c"], {}), (["d", "e"], {}), (["f", "g", "h", "i"], {}))
    assert [products for products, _ in run.runs] == [["a"], ["b", "c"], ["d", "e"], ["f", "g", "h", "i"]]


def test_a_failing_batch_fails_each_of_its_requests_and_the_next_batch_still_runs():
    run = Recorder(fail=True, seconds=0.02)
    results = gather(MicroBatcher(run), (["a"], {}), (["b"], {}), (["c"], {}))
    assert [type(r) for r in results] == [ValueError, ValueError, ValueError]
    assert len(run.runs) == 2
