"""The session-log line, defined once, and where it lives.

- `RecordLine` (msgspec) declares the fields of a line, their order and Rust widths;
  `encode_lines` writes lines byte for byte as the Rust engine's serde_json does.
- `TokenUsageRecord` / `TokenBudgetUsage` are the same line as validated pydantic
  models. They are loaded on first use, so that modules needing only field names or the
  encoder (the session API, the log reader) do not import pydantic.
- `TokenCounts`: the token kinds of a call (fresh input, cache reads, cache writes and
  their 1-hour part, output, thinking), defined once for every reader and summer.
- `session_dir_name` / `session_id_from_dir_name` / `LOG_FILE_NAME`: the path of a
  session's log, shared by the writer and every reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._line import (
    BUDGET_FIELDS,
    COUNT_LIMITS,
    EXTENSION_FIELDS,
    SEED_FIELDS,
    U32_MAX,
    U64_MAX,
    RecordLine,
    encode_line,
    encode_lines,
    format_ts,
)
from ._location import (
    LOG_FILE_NAME,
    SessionRefusedError,
    session_dir_name,
    session_id_from_dir_name,
)
from ._tokens import PROMPT_KINDS, TOKEN_KINDS, TokenCounts

if TYPE_CHECKING:
    from ._model import TokenBudgetUsage, TokenUsageRecord

__all__ = [
    "BUDGET_FIELDS",
    "COUNT_LIMITS",
    "EXTENSION_FIELDS",
    "LOG_FILE_NAME",
    "PROMPT_KINDS",
    "SEED_FIELDS",
    "TOKEN_KINDS",
    "U32_MAX",
    "U64_MAX",
    "RecordLine",
    "SessionRefusedError",
    "TokenBudgetUsage",
    "TokenCounts",
    "TokenUsageRecord",
    "encode_line",
    "encode_lines",
    "format_ts",
    "session_dir_name",
    "session_id_from_dir_name",
]

_PYDANTIC_MODELS = frozenset({"TokenBudgetUsage", "TokenUsageRecord"})


def __getattr__(name: str) -> Any:
    if name not in _PYDANTIC_MODELS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _model  # noqa: PLC0415 - pydantic only for those who use the models

    value = getattr(_model, name)
    globals()[name] = value
    return value
