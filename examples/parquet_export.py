"""A sessions tree as date-partitioned Parquet, with DuckDB: the form a fleet keeps its
token usage in object storage.

Every `SESSIONS_DIR/*/token-usage.jsonl` is read with its columns declared
(`_common.COLUMNS`: UBIGINT counts, so a count past the signed 64-bit range is kept
exactly, and every extension field present whichever file comes first) and written with
one `COPY ... TO ... (FORMAT parquet, PARTITION_BY (day))` as

    OUT/day=2026-11-25/data_0.parquet
    OUT/day=2026-11-26/data_0.parquet

one directory per UTC day of the calls (Hive-style partitions, which DuckDB, Spark,
Trino/Athena, BigQuery external tables and pyarrow read as the column `day`). `ts`
becomes a `TIMESTAMP WITH TIME ZONE` (UTC); every other field keeps the log's value
and type. A line that does not parse (a torn last line) or lacks one of the twenty Rust
fields with a value of its type is left out and counted, as in `analysis_duckdb.py`.

The output directory is replaced as a whole (`OVERWRITE`), so a run is repeatable. To
keep it in object storage, copy the directory there (`aws s3 sync OUT
s3://bucket/token-usage/`, `gsutil rsync -r`), or let DuckDB write there directly with
its `httpfs` extension and an `s3://` target (not exercised by this project's tests).
Read it back with, for example:

    SELECT day, model, sum(input_tokens) FROM read_parquet('OUT/*/*.parquet') GROUP BY ALL

Run from the repository root: `python -m examples.parquet_export [--sessions-dir DIR]
[--out DIR]` (default `./sessions` and `./token-usage-parquet`); with no logs in DIR,
the demo agent is run first. Needs `duckdb` (the `examples` extra).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from examples._common import COLUMNS, arguments, session_logs
from examples.analysis_duckdb import open_logs, skipped_lines

# `ts` as a timestamp, the other fields as the log has them, and the UTC day to partition by.
SELECT_CALLS = f"""
SELECT called_at AS ts, {", ".join(name for name in COLUMNS if name != "ts")},
    CAST(called_at AS DATE) AS day
FROM calls
"""


def export(sessions_dir: Path, out: Path) -> tuple[int, int, int]:
    """Write the calls under `sessions_dir` to `out` as Parquet partitioned by UTC day;
    return (calls written, days, lines skipped)."""
    con = duckdb.connect()
    open_logs(con, sessions_dir)  # sets the time zone to UTC: `day` is the UTC day
    target = "'" + str(out).replace("'", "''") + "'"  # COPY takes no parameters
    con.execute(
        f"COPY ({SELECT_CALLS}) TO {target} (FORMAT parquet, PARTITION_BY (day), OVERWRITE)"
    )
    ((calls, days),) = con.sql(
        f"SELECT count(*), count(DISTINCT day) FROM ({SELECT_CALLS})"
    ).fetchall()
    return int(calls), int(days), skipped_lines(con)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.parquet_export`."""
    parser = arguments("The session logs as Parquet, partitioned by UTC day.")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("token-usage-parquet"),
        help="output directory, replaced as a whole (default: ./token-usage-parquet)",
    )
    args = parser.parse_args(argv)
    logs = session_logs(args.sessions_dir)
    calls, days, skipped = export(args.sessions_dir, args.out)
    print(
        f"{calls} calls of {len(logs)} session logs written to {args.out} in {days} daily "
        f"partitions; {skipped} lines skipped"
    )


if __name__ == "__main__":
    main()
