"""Folding many log files: in this process for a small input, else in a process pool.

The price data is loaded first (the fold needs each model's price tiers), then the files
go out to a plain `multiprocessing` pool as runs of consecutive files, the largest runs
first (guided self-scheduling), so that few results travel back and the workers finish
together. Results come back in file order. Where the `fork` start method is available
and this process runs no other thread, the workers are forked and share the loaded price
data; otherwise they are spawned and each loads it again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from otel_token_usage.pricing import PriceBook

from ._filter import Filters
from ._fold import FileFold, fold_file
from ._progress import Progress
from ._reader import STDIN, LogFile

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

__all__ = ["fold_all"]

_PARALLEL_MIN_BYTES = 32 << 20
_TASKS_PER_WORKER = 4
_MIN_TASK_BYTES = 4 << 20


def fold_all(
    logs: list[LogFile],
    book: PriceBook,
    *,
    filters: Filters,
    jobs: int | None,
    bar: Progress,
) -> Iterator[FileFold]:
    """`fold_file` of every log, in order, with `book`'s price tiers and the calls
    `filters` select. `jobs` worker processes (default: one per CPU when the logs total
    32 MB or more, else none); `bar` advances as files are done."""
    workers = _workers(jobs, logs, sum(log.size or 0 for log in logs))
    if workers <= 1:
        for log in logs:
            yield fold_file(log, book.thresholds, filters, bar.advance)
        return
    import multiprocessing  # noqa: PLC0415 - only for inputs large enough to share out

    book.preload()
    context: BaseContext
    # fork is cheapest (workers inherit the loaded price data) but unsafe with threads.
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
    else:
        context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _init_worker, (book, filters)) as pool:
        tasks = _tasks(logs, workers)
        for task, folds in zip(tasks, pool.imap(_fold_in_worker, tasks), strict=True):
            yield from folds
            bar.advance(sum(log.size or 0 for log in task))


def _workers(jobs: int | None, logs: list[LogFile], total_bytes: int) -> int:
    if any(log.path == STDIN for log in logs):
        return 1
    if jobs is None:
        jobs = (os.cpu_count() or 1) if total_bytes >= _PARALLEL_MIN_BYTES else 1
    return max(1, min(jobs, len(logs)))


def _tasks(logs: list[LogFile], workers: int) -> list[list[LogFile]]:
    # Consecutive runs of files, each a share of what is left to hand out.
    tasks: list[list[LogFile]] = []
    left = sum(log.size or 0 for log in logs)
    task: list[LogFile] = []
    size = 0
    for log in logs:
        task.append(log)
        size += log.size or 0
        if size >= max(left // (workers * _TASKS_PER_WORKER), _MIN_TASK_BYTES):
            tasks.append(task)
            left -= size
            task, size = [], 0
    if task:
        tasks.append(task)
    return tasks


_worker_state: tuple[PriceBook, Filters] | None = None


def _init_worker(book: PriceBook, filters: Filters) -> None:
    global _worker_state  # noqa: PLW0603 - per-process state of a pool worker
    _worker_state = (book, filters)


def _fold_in_worker(logs: list[LogFile]) -> list[FileFold]:
    assert _worker_state is not None
    book, filters = _worker_state
    return [fold_file(log, book.thresholds, filters) for log in logs]
