"""Reading OTLP JSON files, once or followed, into an `Ingestor`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

from ._ingestor import IngestError, Ingestor, IngestStats
from ._tail import InputError, InputLine, follow, read_once

__all__ = ["follow_files", "ingest_files"]


def ingest_files(paths: Iterable[str], ingestor: Ingestor) -> IngestStats:
    """Read every file of `paths` once into `ingestor`, then flush it.

    Raises `IngestError` for a file that is not OTLP JSON lines, `OSError` for one that
    cannot be read or a log that cannot be written."""
    return _drain(read_once(paths), ingestor)


def follow_files(
    paths: Iterable[str],
    ingestor: Ingestor,
    stop: threading.Event,
    *,
    poll_interval: float = 0.5,
    idle_timeout: float | None = None,
    write_interval: float = 1.0,
) -> IngestStats:
    """Like `ingest_files`, then keep reading as the files grow, are rotated or are
    created (`tail -F`), until `stop` is set or `idle_timeout` seconds pass with
    nothing new. What was read is written when the reader has caught up, at most once
    every `write_interval` seconds (a file growing by a batch at a time is caught up
    with after every batch: writing each time would cost an append per session per
    batch), and when following ends."""
    lines = follow(paths, stop, poll_interval=poll_interval, idle_timeout=idle_timeout)
    return _drain(lines, ingestor, write_interval)


def _drain(
    lines: Iterator[InputLine | None], ingestor: Ingestor, write_interval: float = 0.0
) -> IngestStats:
    written_at = time.monotonic()
    try:
        for line in lines:
            if line is not None:
                ingestor.feed(line)
            elif time.monotonic() - written_at >= write_interval:
                ingestor.flush()
                written_at = time.monotonic()
    except InputError as exc:
        raise IngestError(str(exc)) from None
    finally:
        ingestor.flush()
    return ingestor.stats
