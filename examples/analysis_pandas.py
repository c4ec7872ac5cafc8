"""Offline analysis with pandas: the same three questions as `analysis_duckdb.py` --
cache-hit ratio per session, cold rounds, cost per model -- as DataFrame operations.

Every `SESSIONS_DIR/*/token-usage.jsonl` is read line by line into one DataFrame:

- lines are split at `\n` only. `str.splitlines()` would also split at U+2028, U+2029
  and other characters a JSON string may hold unescaped (a model name can), and lose
  both halves; `pd.read_json(lines=True)` would reject the whole file for one torn line;
- a line that does not parse (such as a last line torn by a crash), is not UTF-8, or
  lacks one of the twenty Rust fields with a value of its type is counted and skipped,
  as the DuckDB example does. Logs written with `OTEL_TOKEN_USAGE_LINE_FORMAT=seed`
  lack the extension fields: they read as 0;
- token counts are Python ints in `object` columns, so that sums are exact: a count may
  be up to 2**64 - 1, and int64 or uint64 columns would overflow or wrap around.

Then:

- prompt = `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` (the
  first is fresh input only); cache-hit ratio = cache reads / prompt, per session;
- cold rounds (hit ratio under 0.5) with their reason, from each session's calls in
  time order (`groupby().shift()`/`diff()`), by the rules `token-usage cache` uses;
- cost per model, merged with a price table from `genai-prices`' bundled data
  (offline; base tier only here, `token-usage cost` prices every tier and day).

Gaps are integer milliseconds and the rounded figures (gaps to 0.1 s, hit ratios to 4
places) are rounded half up in integers (`rounded`), as `analysis_duckdb.py` rounds
them: float seconds would round a gap of 0.25 s one way here and the other way there.

Run from the repository root: `python -m examples.analysis_pandas [--sessions-dir DIR]
[--json]`, after the demo (`make demo`) or any example has written logs to DIR
(default `./sessions`); with none there, the demo agent is run first. Needs `pandas`
(the `examples` extra).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from examples._common import COLUMNS, arguments, model_rates, session_logs

COLD_BELOW = 0.5
TTL_5M_S, TTL_1H_S = 300, 3600
_LIMITS = {"UINTEGER": 2**32 - 1, "UBIGINT": 2**64 - 1}
# The twenty Rust fields every line must have, with the type of each.
REQUIRED = {name: COLUMNS[name] for name in list(COLUMNS)[:20]}
COUNTS = (
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "input_tokens",
    "output_tokens",
    "summary_tokens",
    "segments_removed",
    "cache_creation_1h_input_tokens",
)


def rounded(numerator: Any, denominator: Any, places: int) -> float | None:
    """`numerator / denominator` rounded half up to `places` decimals, worked out in
    integers (exact at any size) and only then made a float; None when either is
    missing (None, NaN) or the denominator is 0. Both are non-negative whole numbers."""
    if pd.isna(numerator) or pd.isna(denominator) or not denominator:
        return None
    scale: int = 10**places
    whole, parts = int(numerator), int(denominator)
    return (whole * 2 * scale + parts) // (2 * parts) / scale


def _rounded_column(numerators: pd.Series, denominators: Any, places: int) -> pd.Series:
    pairs = zip(numerators, denominators, strict=True)
    return pd.Series([rounded(n, d, places) for n, d in pairs], index=numerators.index, dtype=float)


def _lines(log: Path) -> Iterator[bytes]:
    """The lines of `log`, split at b"\\n" only (a binary file iterates so)."""
    with log.open("rb") as file:
        yield from file


def _usable(row: Any) -> bool:
    """Whether a parsed line has each Rust field with a value of its type."""
    if not isinstance(row, dict):
        return False
    for name, kind in REQUIRED.items():
        value = row.get(name)
        if kind == "VARCHAR":
            ok = isinstance(value, str)
        elif kind == "BOOLEAN":
            ok = isinstance(value, bool)
        else:  # a JSON integer (not a bool) in the Rust type's range
            ok = type(value) is int and 0 <= value <= _LIMITS[kind]
        if not ok:
            return False
    hour = row.get("cache_creation_1h_input_tokens")
    return hour is None or (type(hour) is int and 0 <= hour <= _LIMITS["UBIGINT"])


def load(logs: list[Path]) -> tuple[pd.DataFrame, int]:
    """One row per usable line of `logs`, with `prompt_tokens` added; and the number of
    lines skipped."""
    rows: list[dict[str, Any]] = []
    skipped = 0
    for log in logs:
        for line in _lines(log):
            try:
                row = json.loads(line)  # bytes: decoded as UTF-8, strictly
            except ValueError:
                row = None
            if _usable(row):
                rows.append(row)
            else:
                skipped += 1
    at = pd.to_datetime(
        pd.Series([row["ts"] for row in rows], dtype=object),
        utc=True,
        format="ISO8601",
        errors="coerce",
    )
    skipped += int(at.isna().sum())  # a `ts` that is not a time
    rows = [row for row, bad in zip(rows, at.isna(), strict=True) if not bad]
    columns: dict[str, Any] = {
        name: [row[name] for row in rows] for name in ("ts", "session_id", "model", "provider")
    }
    columns["truncation_occurred"] = pd.Series(
        [row["truncation_occurred"] for row in rows], dtype=bool
    )
    for name in COUNTS:  # Python ints: exact whatever their size
        columns[name] = pd.Series([row.get(name) or 0 for row in rows], dtype=object)
    calls = pd.DataFrame(columns)
    calls["prompt_tokens"] = (
        calls["input_tokens"]
        + calls["cache_read_input_tokens"]
        + calls["cache_creation_input_tokens"]
    )
    return calls, skipped


def rounds(calls: pd.DataFrame) -> pd.DataFrame:
    """Each call with its round number, gap, hit ratio, and `cold` and `reason`."""
    out = calls.assign(at=pd.to_datetime(calls["ts"], utc=True, format="ISO8601"))
    out = out.sort_values(["session_id", "at"], kind="stable").reset_index(drop=True)
    by_session = out.groupby("session_id", sort=False)
    out["round"] = by_session.cumcount() + 1
    # Whole milliseconds since the epoch, then their differences: exact integers.
    at_ms = (out["at"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    out["gap_ms"] = at_ms.groupby(out["session_id"], sort=False).diff()
    prompt = out["prompt_tokens"].where(out["prompt_tokens"] > 0)
    out["hit_ratio"] = (out["cache_read_input_tokens"] / prompt).astype(float)
    rewritten = (
        (out["segments_removed"] > 0)
        | out["truncation_occurred"]
        | (out["summary_tokens"] != by_session["summary_tokens"].shift())
    )
    # The 1-hour TTL is in force once an earlier call of the session wrote 1-hour entries.
    wrote_1h = (out["cache_creation_1h_input_tokens"] > 0).astype("int64")
    earlier_1h = wrote_1h.groupby(out["session_id"]).transform(lambda s: s.cumsum() - s) > 0
    ttl_s = earlier_1h.map({True: TTL_1H_S, False: TTL_5M_S})
    out["cold"] = out["hit_ratio"] < COLD_BELOW
    out["reason"] = "prefix_change"
    out.loc[out["gap_ms"] > ttl_s * 1000, "reason"] = "ttl_expired"
    out.loc[rewritten, "reason"] = "compression"
    out.loc[out["round"] == 1, "reason"] = "first_call"
    return out


def per_session(table: pd.DataFrame) -> pd.DataFrame:
    """Calls, prompt, cache reads and writes, hit ratio and cold rounds per session."""
    summary = table.groupby("session_id").agg(
        calls=("ts", "size"),
        prompt_tokens=("prompt_tokens", "sum"),
        cache_read=("cache_read_input_tokens", "sum"),
        cache_write=("cache_creation_input_tokens", "sum"),
        cold_rounds=("cold", "sum"),
    )
    hit_ratio = _rounded_column(summary["cache_read"], summary["prompt_tokens"], 4)
    summary.insert(4, "hit_ratio", hit_ratio)
    return summary.reset_index()


def cold_rounds(table: pd.DataFrame) -> pd.DataFrame:
    """The cold rounds, with the reason of each."""
    cold = table.loc[table["cold"]].copy()
    cold["gap_s"] = _rounded_column(cold["gap_ms"], [1000] * len(cold), 1)
    cold["hit_ratio"] = _rounded_column(cold["cache_read_input_tokens"], cold["prompt_tokens"], 4)
    columns = ["session_id", "round", "ts", "gap_s", "prompt_tokens", "hit_ratio", "reason"]
    return cold[columns].reset_index(drop=True)


def cost(calls: pd.DataFrame) -> pd.DataFrame:
    """Calls, tokens, cost and cost without the cache per model (NaN: no known price)."""
    days = calls.assign(day=calls["ts"].str[:10]).groupby(["provider", "model"], as_index=False)
    last = days["day"].max()
    prices = pd.DataFrame.from_records(
        model_rates(zip(last["provider"], last["model"], last["day"], strict=True)),
        columns=["provider", "model", "p_input", "p_read", "p_write_5m", "p_write_1h", "p_out"],
    )
    priced = calls.merge(prices, on=["provider", "model"], how="left")
    writes = priced["cache_creation_input_tokens"]
    hour = priced["cache_creation_1h_input_tokens"].combine(writes, min)
    # Python int times float price: a float in USD, as DuckDB's UBIGINT * DOUBLE is.
    priced["cost_usd"] = (
        (
            priced["input_tokens"] * priced["p_input"]
            + priced["cache_read_input_tokens"] * priced["p_read"]
            + (writes - hour) * priced["p_write_5m"]
            + hour * priced["p_write_1h"]
            + priced["output_tokens"] * priced["p_out"]
        )
        / 1e6
    ).astype(float)
    priced["no_cache_usd"] = (
        (priced["prompt_tokens"] * priced["p_input"] + priced["output_tokens"] * priced["p_out"])
        / 1e6
    ).astype(float)
    table = priced.groupby(["provider", "model"]).agg(
        calls=("ts", "size"),
        prompt_tokens=("prompt_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        # min_count=1: a model without a price stays NaN instead of costing 0
        cost_usd=("cost_usd", lambda s: s.sum(min_count=1)),
        no_cache_usd=("no_cache_usd", lambda s: s.sum(min_count=1)),
    )
    table[["cost_usd", "no_cache_usd"]] = table[["cost_usd", "no_cache_usd"]].round(6)
    table = table.reset_index()
    return table.sort_values(
        ["cost_usd", "provider", "model"], ascending=[False, True, True], na_position="last"
    ).reset_index(drop=True)


def results(calls: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three tables, by the names `analysis_duckdb.py` gives them."""
    table = rounds(calls)
    return {"sessions": per_session(table), "cold_rounds": cold_rounds(table), "cost": cost(calls)}


def as_json(tables: dict[str, pd.DataFrame], skipped: int) -> dict[str, Any]:
    """The tables as lists of rows, integers exact and NaN as None (JSON null), and the
    number of lines skipped: the shape `analysis_duckdb.py --json` prints."""
    out: dict[str, Any] = {
        name: [
            {key: None if isinstance(v, float) and math.isnan(v) else v for key, v in row.items()}
            for row in table.to_dict(orient="records")
        ]
        for name, table in tables.items()
    }
    out["skipped"] = skipped
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.analysis_pandas`."""
    parser = arguments("pandas over the session logs.")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    logs = session_logs(args.sessions_dir)
    calls, skipped = load(logs)
    tables = results(calls)
    if args.json:
        print(json.dumps(as_json(tables, skipped), indent=2))
        return
    print(f"{len(calls)} calls in {len(logs)} session logs, {skipped} lines skipped\n")
    titles = ("Cache-hit ratio per session", "Cold rounds and why", "Cost per model (USD)")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        for title, table in zip(titles, tables.values(), strict=True):
            print(f"{title}:\n{table.to_string(index=False)}\n")


if __name__ == "__main__":
    main()
