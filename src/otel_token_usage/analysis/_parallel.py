"""Folding many log files: in this process for a small input, else in worker processes.

Work goes out as runs of consecutive files, the largest first (guided self-scheduling),
so that few results travel back and the workers finish together. With the `fork` start
method the workers inherit the price data, loaded once here. Loading it takes about a
tenth of a second, so a first worker, forked before that, folds the first files
meanwhile, without price tiers; its groups are then put in their tier
(`settle_tiers`), and the rare file with a group whose prompts span a tier boundary is
folded again. Results come back in file order, except for those files.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from otel_token_usage.pricing import Price, PriceBook

from ._fold import FileFold, fold_file, settle_tiers
from ._progress import Progress
from ._reader import STDIN, LogFile

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

__all__ = ["fold_all"]

_PARALLEL_MIN_BYTES = 32 << 20
_TASKS_PER_WORKER = 4
_MIN_TASK_BYTES = 4 << 20
_EARLY_BYTES = 64 << 20  # about what a worker folds while the price data loads

_Result = tuple[list[FileFold], dict[tuple[str, str, str], Price | None]]


def fold_all(
    logs: list[LogFile],
    book: PriceBook,
    *,
    since: str | None,
    until: str | None,
    jobs: int | None,
    bar: Progress,
) -> Iterator[FileFold]:
    """`fold_file` of every log, each folded once with `book`'s price tiers. `jobs`
    worker processes (default: one per CPU when the logs total 32 MB or more, else none);
    `bar` advances as files are done. The book learns the prices the workers looked up."""
    workers = _workers(jobs, logs, sum(log.size or 0 for log in logs))
    if workers <= 1:
        for log in logs:
            yield fold_file(log, book.thresholds, since, until, bar.advance)
        return
    fork = threading.active_count() == 1 and hasattr(os, "fork")
    early = None
    if fork and not book.data_loaded():
        with contextlib.suppress(OSError):  # no process to spare: the pool does it all
            early = _Early(logs, since, until)
    try:
        import multiprocessing  # noqa: PLC0415 - only for inputs large enough to share out

        # fork is cheapest (workers inherit the loaded price data) but unsafe with threads.
        context: BaseContext
        if fork and "fork" in multiprocessing.get_all_start_methods():
            book.preload()
            context = multiprocessing.get_context("fork")
        else:
            context = multiprocessing.get_context("spawn")
        rest = logs[len(early.logs) :] if early is not None else logs
        with context.Pool(workers, _init_worker, (book, since, until)) as pool:
            tasks = _tasks(rest, workers)
            results = zip(tasks, pool.imap(_fold_in_worker, tasks), strict=True)
            again: list[LogFile] = []
            if early is not None:
                folds = early.result()
                for index, log in enumerate(early.logs):
                    fold = folds[index] if folds is not None else None
                    if fold is not None and settle_tiers(fold, book.thresholds):
                        bar.advance(log.size or 0)
                        yield fold
                    else:
                        again.append(log)
            retry = pool.apply_async(_fold_in_worker, (again,)) if again else None
            for task, (folds_done, lookups) in results:
                book.remember(lookups)  # pricing the report then looks nothing up again
                yield from folds_done
                bar.advance(sum(log.size or 0 for log in task))
            if retry is not None:
                folds_done, lookups = retry.get()
                book.remember(lookups)
                yield from folds_done
                bar.advance(sum(log.size or 0 for log in again))
    finally:
        if early is not None:
            early.stop()


class _Early:
    """A forked process folding the first files (up to _EARLY_BYTES) without price tiers
    while this one loads the price data; `result()` is its folds, or None if it failed
    (the files are then folded again, in the pool)."""

    def __init__(self, logs: list[LogFile], since: str | None, until: str | None) -> None:
        self.logs: list[LogFile] = []
        size = 0
        for log in logs[:-1]:
            if size >= _EARLY_BYTES:
                break
            self.logs.append(log)
            size += log.size or 0
        reader, writer = os.pipe()
        try:
            self._pid = os.fork()
        except OSError:
            os.close(reader)
            os.close(writer)
            raise
        if self._pid == 0:  # pragma: no cover - the child; coverage cannot follow it
            os.close(reader)
            code = 1
            try:
                data = pickle.dumps([fold_file(log, None, since, until) for log in self.logs])
                with os.fdopen(writer, "wb") as out:
                    out.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(writer)
        self._reader: int | None = reader

    def result(self) -> list[FileFold] | None:
        """Wait for the folds (None if the process failed)."""
        assert self._reader is not None
        with os.fdopen(self._reader, "rb") as stream:
            self._reader = None
            data = stream.read()
        _pid, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if status != 0 or not data:
            return None
        folds: list[FileFold] = pickle.loads(data)  # our own child's output
        return folds if len(folds) == len(self.logs) else None

    def stop(self) -> None:
        """End the process if it still runs (this generator was left early)."""
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None
        if self._pid:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGTERM)
                os.waitpid(self._pid, 0)
            self._pid = 0


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


_worker_state: tuple[PriceBook | None, str | None, str | None] | None = None


def _init_worker(book: PriceBook | None, since: str | None, until: str | None) -> None:
    global _worker_state  # noqa: PLW0603 - per-process state of a pool worker
    _worker_state = (book, since, until)


def _fold_in_worker(logs: list[LogFile]) -> _Result:
    # Without a book, folds without price tiers (see the module docstring).
    assert _worker_state is not None
    book, since, until = _worker_state
    if book is None:
        return [fold_file(log, None, since, until) for log in logs], {}
    return [fold_file(log, book.thresholds, since, until) for log in logs], book.lookups()
