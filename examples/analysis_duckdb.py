"""Offline analysis with DuckDB SQL: cache-hit ratio per session, cold rounds, cost per
model, straight from the `token-usage.jsonl` files.

DuckDB reads every `SESSIONS_DIR/*/token-usage.jsonl` as one table whose columns are
declared with the Rust record's types (`COLUMNS`), so no field is lost and no count is
too large, whichever file comes first. A line that does not parse (a torn last line,
possible after a crash) or has a field of the wrong type is counted and left out. Each
line is one call; its prompt is `input_tokens + cache_read_input_tokens +
cache_creation_input_tokens` (the first is fresh input only; sums are 128-bit), so:

- the cache-hit ratio is `cache reads / prompt`, per session;
- a cold round is a call whose hit ratio is under 0.5, and window functions over each
  session's calls (in time order) say why, by the rules `token-usage cache` uses: the
  first call, a compression (segments removed, truncation, a new summary), a pause
  longer than the cache TTL (5 minutes, or 1 hour once the session wrote 1-hour
  entries), else a prefix change;
- cost per model joins a price table made from `genai-prices`' bundled data (offline;
  base tier only here, `token-usage cost` prices every tier and day).

Gaps are integer milliseconds (`epoch_ms`) and the rounded figures (gaps to 0.1 s, hit
ratios to 4 places) are rounded half up in integer arithmetic (`rounded`), never from a
float epoch: `analysis_pandas.py` does the same, so the two agree to the last digit.

Run from the repository root: `python -m examples.analysis_duckdb [--sessions-dir DIR]
[--json]`, after the demo (`make demo`) or any example has written logs to DIR
(default `./sessions`); with none there, the demo agent is run first. Needs `duckdb`
(the `examples` extra).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from examples._common import COLUMNS, arguments, model_rates, session_logs
from otel_token_usage.record import LOG_FILE_NAME

SEED_COLUMNS = list(COLUMNS)[:20]  # the Rust fields, which every line must have


def rounded(numerator: str, denominator: str, places: int) -> str:
    """SQL for `numerator / denominator` rounded half up to `places` decimals, worked
    out in integers (HUGEINT) and only then made a DOUBLE; NULL when the denominator is
    0 or NULL. Both must be non-negative integers."""
    scale = 10**places
    return (
        f"(({numerator})::HUGEINT * {2 * scale} + ({denominator}))"
        f" // nullif(2 * ({denominator})::HUGEINT, 0) / {scale}"
    )


# A line is used when each of the twenty Rust fields has a value of its type and `ts` is
# a time: `ignore_errors` turns a line that does not parse (a torn last line) into a row
# of NULLs, and a value of the wrong type or out of range into one NULL. Sums are HUGEINT
# (128-bit), so adding u64 counts cannot overflow.
CALLS = f"""
CREATE VIEW calls AS
SELECT
    *,
    input_tokens::HUGEINT + cache_read_input_tokens + cache_creation_input_tokens
        AS prompt_tokens,
    least(coalesce(cache_creation_1h_input_tokens, 0), cache_creation_input_tokens)
        AS write_1h_tokens,
    epoch_ms(called_at) AS at_ms
FROM (SELECT *, try_cast(ts AS TIMESTAMPTZ) AS called_at FROM lines)
WHERE called_at IS NOT NULL AND {" AND ".join(f"{name} IS NOT NULL" for name in SEED_COLUMNS)}
"""

ROUNDS = f"""
CREATE VIEW rounds AS
SELECT
    *,
    row_number() OVER w AS round,
    cache_read_input_tokens / nullif(prompt_tokens, 0) AS hit_ratio,
    {rounded("cache_read_input_tokens", "prompt_tokens", 4)} AS hit_ratio_4,
    at_ms - lag(at_ms) OVER w AS gap_ms,
    segments_removed > 0 OR truncation_occurred
        OR summary_tokens IS DISTINCT FROM lag(summary_tokens) OVER w AS rewritten,
    -- the 1-hour TTL is in force once an earlier call of the session wrote 1-hour entries
    coalesce(bool_or(write_1h_tokens > 0) OVER (
        w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS ttl_1h
FROM calls
WINDOW w AS (PARTITION BY session_id ORDER BY at_ms)
"""

COLD_ROUNDS = f"""
SELECT
    session_id,
    round,
    ts,
    {rounded("gap_ms", "1000", 1)} AS gap_s,
    prompt_tokens,
    hit_ratio_4 AS hit_ratio,
    CASE
        WHEN round = 1 THEN 'first_call'
        WHEN rewritten THEN 'compression'
        WHEN gap_ms > CASE WHEN ttl_1h THEN 3600000 ELSE 300000 END THEN 'ttl_expired'
        ELSE 'prefix_change'
    END AS reason
FROM rounds
WHERE hit_ratio < 0.5
ORDER BY session_id, round
"""

SESSIONS = f"""
SELECT
    session_id,
    count(*) AS calls,
    sum(prompt_tokens) AS prompt_tokens,
    sum(cache_read_input_tokens) AS cache_read,
    sum(cache_creation_input_tokens) AS cache_write,
    {rounded("sum(cache_read_input_tokens)", "sum(prompt_tokens)", 4)} AS hit_ratio,
    count(*) FILTER (WHERE hit_ratio < 0.5) AS cold_rounds
FROM rounds
GROUP BY session_id
ORDER BY session_id
"""

COST = """
SELECT
    provider,
    model,
    count(*) AS calls,
    sum(prompt_tokens) AS prompt_tokens,
    sum(output_tokens) AS output_tokens,
    round(sum(
        input_tokens * p.input
        + cache_read_input_tokens * p.cache_read
        + (cache_creation_input_tokens - write_1h_tokens) * p.cache_write_5m
        + write_1h_tokens * p.cache_write_1h
        + output_tokens * p.output
    ) / 1e6, 6) AS cost_usd,
    round(sum(prompt_tokens * p.input + output_tokens * p.output) / 1e6, 6) AS no_cache_usd
FROM calls LEFT JOIN prices AS p USING (provider, model)
GROUP BY provider, model
ORDER BY cost_usd DESC NULLS LAST, provider, model
"""

QUERIES = {"sessions": SESSIONS, "cold_rounds": COLD_ROUNDS, "cost": COST}
TITLES = {
    "sessions": "Cache-hit ratio per session",
    "cold_rounds": "Cold rounds (hit ratio under 50%) and why",
    "cost": "Cost per model (USD; NULL: no known price)",
}


def open_logs(con: duckdb.DuckDBPyConnection, sessions_dir: Path) -> None:
    """The views `lines` (every line of `SESSIONS_DIR/*/token-usage.jsonl`, typed by
    `COLUMNS`, declared rather than sampled) and `calls` (the lines that are whole
    calls) on `con`, whose time zone becomes UTC (the days of the logs are UTC days)."""
    con.execute("SET TimeZone = 'UTC'")
    pattern = str(sessions_dir / "*" / LOG_FILE_NAME)
    lines = con.read_json(pattern, format="newline_delimited", columns=COLUMNS, ignore_errors=True)
    lines.create_view("lines")
    con.execute(CALLS)


def skipped_lines(con: duckdb.DuckDBPyConnection) -> int:
    """How many lines `calls` leaves out."""
    ((skipped,),) = con.sql(
        "SELECT (SELECT count(*) FROM lines) - (SELECT count(*) FROM calls)"
    ).fetchall()
    return int(skipped)


def connect(sessions_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the views `lines`, `calls` and `rounds` over the
    session logs and the table `prices`."""
    con = duckdb.connect()
    open_logs(con, sessions_dir)
    con.execute(ROUNDS)
    con.execute(
        "CREATE TABLE prices (provider VARCHAR, model VARCHAR, input DOUBLE, "
        "cache_read DOUBLE, cache_write_5m DOUBLE, cache_write_1h DOUBLE, output DOUBLE)"
    )
    models = con.sql("SELECT provider, model, max(left(ts, 10)) FROM calls GROUP BY ALL")
    rates = model_rates(models.fetchall())
    if rates:
        con.executemany("INSERT INTO prices VALUES (?, ?, ?, ?, ?, ?, ?)", rates)
    return con


def results(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Every query's rows, as dicts (integers exact, HUGEINT sums as Python ints), and
    the number of lines skipped."""
    out: dict[str, Any] = {}
    for name, query in QUERIES.items():
        relation = con.sql(query)
        out[name] = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    out["skipped"] = skipped_lines(con)
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.analysis_duckdb`."""
    parser = arguments("DuckDB SQL over the session logs.")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    logs = session_logs(args.sessions_dir)
    con = connect(args.sessions_dir)
    if args.json:
        print(json.dumps(results(con), indent=2))
        return
    skipped = skipped_lines(con)
    print(f"{len(logs)} session logs under {args.sessions_dir}, {skipped} lines skipped\n")
    for name, query in QUERIES.items():
        print(f"{TITLES[name]}:")
        print(con.sql(query))


if __name__ == "__main__":
    main()
