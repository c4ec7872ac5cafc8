"""Strict checks of every line, and the JSON Schema of a line.

The record model (and pydantic with it) is imported only for the schema, so the other
`token-usage` commands start without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._filter import Filters
from ._reader import BadLine, BadLines, LogFile, read_lines

__all__ = ["record_schema", "validate_lines"]


def validate_lines(
    logs: Iterable[LogFile],
    bad: BadLines | None = None,
    *,
    filters: Filters | None = None,
    on_block: Callable[[int], None] | None = None,
) -> Iterator[BadLine | int]:
    """Check every line of `logs` against the one definition of a valid line (`_line`,
    which every command applies): each field, its type and its range; blank lines are
    invalid here. Yields a `BadLine` per failing line as it is found, then, per file, the
    number of valid lines `filters` select. An invalid line is yielded unless what can
    be read of it puts it outside `filters` (`Filters.may_hold`). Logs that cannot be
    read are named in `bad.unreadable`; `on_block` is told the size of each block read."""
    sink = bad if bad is not None else BadLines()
    chosen = filters if filters is not None else Filters()
    for log in logs:
        found: list[BadLine] = []
        good = 0
        for _numbers, records in read_lines(
            log, sink, on_block, found.append, blank_is_bad=True, filters=chosen
        ):
            yield from found
            found.clear()
            good += len(records)
        yield good


def record_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one log line, as `TokenUsageRecord` validates it."""
    from otel_token_usage.record import TokenUsageRecord  # noqa: PLC0415 - see module docstring

    schema = TokenUsageRecord.model_json_schema(mode="validation")
    # What every command requires of `ts` (see `_line`), which the model keeps as text.
    schema["properties"]["ts"]["format"] = "date-time"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
