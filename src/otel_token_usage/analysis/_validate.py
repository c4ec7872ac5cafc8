"""Strict checks: every line against `TokenUsageRecord`, and the JSON Schema of a line.

The record model (and pydantic with it) is imported when a check runs, not with this
module, so the other `token-usage` commands start without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._reader import STDIN, BadLine, LogFile, iter_blocks

if TYPE_CHECKING:
    from pydantic import ValidationError

    from otel_token_usage.record import TokenUsageRecord

__all__ = ["record_schema", "validate_lines"]


def validate_lines(logs: Iterable[LogFile]) -> Iterator[BadLine | int]:
    """Check every line of `logs` with `TokenUsageRecord.model_validate_json` (the full
    schema: every field, its type and range). Yields a `BadLine` per failing line as it is
    found, then, per file, the number of lines that passed."""
    from pydantic import ValidationError  # noqa: PLC0415 - see module docstring

    from otel_token_usage.record import TokenUsageRecord  # noqa: PLC0415

    for log in logs:
        name = "<stdin>" if log.path == STDIN else log.path
        good = 0
        for first_line, _lines, block in iter_blocks(log):
            lines = block.split(b"\n")
            if block.endswith(b"\n"):
                lines.pop()
            for offset, line in enumerate(lines):
                reason = _problem(TokenUsageRecord, ValidationError, line)
                if reason is None:
                    good += 1
                else:
                    yield BadLine(name, first_line + offset, reason)
        yield good


def _problem(
    model: type[TokenUsageRecord], invalid: type[ValidationError], line: bytes
) -> str | None:
    if not line.strip():
        return "blank line"
    try:
        model.model_validate_json(line)
    except invalid as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        more = error.error_count() - 1
        text = f"{where}: {first['msg']}" if where else first["msg"]
        return text + (f" (and {more} more)" if more > 0 else "")
    return None


def record_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one log line, as `TokenUsageRecord` validates it."""
    from otel_token_usage.record import TokenUsageRecord  # noqa: PLC0415 - see module docstring

    schema = TokenUsageRecord.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
