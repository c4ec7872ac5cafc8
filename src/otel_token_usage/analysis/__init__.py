"""Offline analysis of session logs (`token-usage.jsonl`), usable from Python.

- `find_logs` / `read_calls`: stream the valid lines of a file, a session directory, a
  sessions tree or stdin, counting (with file and line) the lines that are not valid
  (one definition for every command, `validate` included: see `_line`) and naming the
  paths that cannot be read.
- `parse_time`, `ts_text`, `utc_day`: times as the analysis reads and writes them.
- `Filters`: the selection every command applies (times, sessions, models).
- `summarize`: calls, tokens by kind, prompt size, cache-hit ratio, cache write payback,
  thinking share, cost and saving versus no cache, per session, model or day.
- `CacheTimeline`, `timeline_items`: per call, the hit ratio and why cold rounds were
  cold, and each session's summary.
- `write_report`, `write_costs`, `write_timeline`: tables, CSV and JSON (whose shape
  has a `SCHEMA_VERSION`; `json_header`, `json_input` and `JsonObject` build the same
  shape for other output).
- Prices come from `otel_token_usage.pricing.PriceBook`.
- `Progress`: the progress bar the commands show on a terminal.
- `plot_overview`, `plot_timelines`: pictures of a whole tree and of each session's
  timeline (need the `plot` extra).
- `validate_lines`, `record_schema`: strict checks of every line, and the line's schema.
"""

from __future__ import annotations

from ._filter import Filters
from ._line import moment as parse_time
from ._line import ts_text, utc_day
from ._output import SCHEMA_VERSION, JsonObject, Out, json_header, json_input
from ._overview import DEFAULT_TOP, plot_overview
from ._plot import PLOT_SUFFIXES, plot_timelines
from ._progress import Progress
from ._reader import (
    STDIN,
    STDIN_NAME,
    AnalysisError,
    BadLine,
    BadLines,
    Call,
    LogFile,
    find_logs,
    read_calls,
)
from ._render import OutputFormat, cost_rows, write_costs, write_report
from ._render_timeline import write_timeline
from ._summary import GroupBy, Report, Summary, nothing_read, summarize
from ._timeline import (
    DEFAULT_THRESHOLD,
    REASONS,
    TTL_1H_S,
    TTL_5M_S,
    CacheTimeline,
    SessionCache,
    TimelineRow,
    timeline_items,
)
from ._validate import record_schema, validate_lines

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_TOP",
    "PLOT_SUFFIXES",
    "REASONS",
    "SCHEMA_VERSION",
    "STDIN",
    "STDIN_NAME",
    "TTL_1H_S",
    "TTL_5M_S",
    "AnalysisError",
    "BadLine",
    "BadLines",
    "CacheTimeline",
    "Call",
    "Filters",
    "GroupBy",
    "JsonObject",
    "LogFile",
    "Out",
    "OutputFormat",
    "Progress",
    "Report",
    "SessionCache",
    "Summary",
    "TimelineRow",
    "cost_rows",
    "find_logs",
    "json_header",
    "json_input",
    "nothing_read",
    "parse_time",
    "plot_overview",
    "plot_timelines",
    "read_calls",
    "record_schema",
    "summarize",
    "timeline_items",
    "ts_text",
    "utc_day",
    "validate_lines",
    "write_costs",
    "write_report",
    "write_timeline",
]
