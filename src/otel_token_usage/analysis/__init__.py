"""Offline analysis of session logs (`token-usage.jsonl`), usable from Python.

- `find_logs` / `read_calls`: stream the valid lines of a file, a session directory, a
  sessions tree or stdin, counting (with file and line) the lines that are not valid
  (one definition for every command, `validate` included: see `_line`) and naming the
  paths that cannot be read.
- `parse_time`, `ts_text`, `utc_day`: times as the analysis reads and writes them.
- `summarize`: calls, tokens by kind, prompt size, cache-hit ratio, cache write payback,
  thinking share, cost and saving versus no cache, per session, model or day.
- `CacheTimeline`: per call, the hit ratio and why cold rounds were cold.
- Prices come from `otel_token_usage.pricing.PriceBook`.
- `plot_timelines`: pictures of the timeline (needs the `plot` extra).
- `validate_lines`, `record_schema`: strict checks of every line, and the line's schema.
"""

from __future__ import annotations

from ._line import moment as parse_time
from ._line import ts_text, utc_day
from ._plot import PLOT_SUFFIXES, plot_timelines
from ._reader import AnalysisError, BadLine, BadLines, Call, LogFile, find_logs, read_calls
from ._render import OutputFormat, cost_rows, write_costs, write_report, write_timeline
from ._summary import GroupBy, Report, Summary, summarize
from ._timeline import (
    DEFAULT_THRESHOLD,
    REASONS,
    TTL_1H_S,
    TTL_5M_S,
    CacheTimeline,
    SessionCache,
    TimelineRow,
)
from ._validate import record_schema, validate_lines

__all__ = [
    "DEFAULT_THRESHOLD",
    "PLOT_SUFFIXES",
    "REASONS",
    "TTL_1H_S",
    "TTL_5M_S",
    "AnalysisError",
    "BadLine",
    "BadLines",
    "CacheTimeline",
    "Call",
    "GroupBy",
    "LogFile",
    "OutputFormat",
    "Report",
    "SessionCache",
    "Summary",
    "TimelineRow",
    "cost_rows",
    "find_logs",
    "parse_time",
    "plot_timelines",
    "read_calls",
    "record_schema",
    "summarize",
    "ts_text",
    "utc_day",
    "validate_lines",
    "write_costs",
    "write_report",
    "write_timeline",
]
