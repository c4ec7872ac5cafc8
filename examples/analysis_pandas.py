"""Offline analysis with pandas: the same three questions as `analysis_duckdb.py` --
cache-hit ratio per session, cold rounds, cost per model -- as DataFrame operations.

Every `SESSIONS_DIR/*/token-usage.jsonl` is read line by line into one DataFrame (a
line that does not parse, such as a last line torn by a crash, is counted and skipped;
`pd.read_json(lines=True)` would reject the whole file). Logs written with
`OTEL_TOKEN_USAGE_LINE_FORMAT=seed` lack the extension fields: they read as 0. Then:

- prompt = `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` (the
  first is fresh input only); cache-hit ratio = cache reads / prompt, per session;
- cold rounds (hit ratio under 0.5) with their reason, from each session's calls in
  time order (`groupby().shift()`/`diff()`), by the rules `token-usage cache` uses;
- cost per model, merged with a price table from `genai-prices`' bundled data
  (offline; base tier only here, `token-usage cost` prices every tier and day).

Run from the repository root: `python -m examples.analysis_pandas [--sessions-dir DIR]
[--json]`, after the demo (`make demo`) or any example has written logs to DIR
(default `./sessions`); with none there, the demo agent is run first. Needs `pandas`
(the `examples` extra).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from examples._common import arguments, model_rates, session_logs

COLD_BELOW = 0.5
TTL_5M_S, TTL_1H_S = 300, 3600
COUNTS = (
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "input_tokens",
    "output_tokens",
    "summary_tokens",
    "segments_removed",
    "cache_creation_1h_input_tokens",
)


def load(logs: list[Path]) -> tuple[pd.DataFrame, int]:
    """One row per usable line of `logs`, with `prompt_tokens` added; and the number of
    lines skipped."""
    rows: list[dict[str, Any]] = []
    skipped = 0
    for log in logs:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(row, dict) and isinstance(row.get("session_id"), str):
                rows.append(row)
            else:
                skipped += 1
    calls = pd.DataFrame.from_records(rows).reindex(
        columns=["ts", "session_id", "model", "provider", "truncation_occurred", *COUNTS]
    )
    calls[list(COUNTS)] = calls[list(COUNTS)].fillna(0).astype("int64")
    calls["truncation_occurred"] = calls["truncation_occurred"].fillna(False).astype(bool)
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
    out["gap_s"] = by_session["at"].diff().dt.total_seconds()
    prompt = out["prompt_tokens"].where(out["prompt_tokens"] > 0)
    out["hit_ratio"] = out["cache_read_input_tokens"] / prompt
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
    out.loc[out["gap_s"] > ttl_s, "reason"] = "ttl_expired"
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
    summary.insert(4, "hit_ratio", (summary["cache_read"] / summary["prompt_tokens"]).round(4))
    return summary.reset_index()


def cold_rounds(table: pd.DataFrame) -> pd.DataFrame:
    """The cold rounds, with the reason of each."""
    cold = table.loc[table["cold"]].copy()
    cold["gap_s"] = cold["gap_s"].round(1)
    cold["hit_ratio"] = cold["hit_ratio"].round(4)
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
    hour = priced[["cache_creation_1h_input_tokens", "cache_creation_input_tokens"]].min(axis=1)
    priced["cost_usd"] = (
        priced["input_tokens"] * priced["p_input"]
        + priced["cache_read_input_tokens"] * priced["p_read"]
        + (priced["cache_creation_input_tokens"] - hour) * priced["p_write_5m"]
        + hour * priced["p_write_1h"]
        + priced["output_tokens"] * priced["p_out"]
    ) / 1e6
    priced["no_cache_usd"] = (
        priced["prompt_tokens"] * priced["p_input"] + priced["output_tokens"] * priced["p_out"]
    ) / 1e6
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


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.analysis_pandas`."""
    parser = arguments("pandas over the session logs.")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    logs = session_logs(args.sessions_dir)
    calls, skipped = load(logs)
    tables = results(calls)
    if args.json:
        as_rows = {name: json.loads(t.to_json(orient="records")) for name, t in tables.items()}
        print(json.dumps(as_rows, indent=2))
        return
    print(f"{len(calls)} calls in {len(logs)} session logs, {skipped} lines skipped\n")
    titles = ("Cache-hit ratio per session", "Cold rounds and why", "Cost per model (USD)")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        for title, table in zip(titles, tables.values(), strict=True):
            print(f"{title}:\n{table.to_string(index=False)}\n")


if __name__ == "__main__":
    main()
