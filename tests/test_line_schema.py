"""The session logs in the tools people read them with: every extended line has the same
keys; the README's DuckDB query types every column right; the DuckDB and pandas examples
are exact on edge values (a u64 maximum, U+2028 in a model name, files whose first lines
lack a field later files carry); the Parquet recipe writes one partition per UTC day."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from otel_token_usage import TokenUsageRecord, TokenUsageSpanExporter
from otel_token_usage.record import (
    COUNT_LIMITS,
    EXTENSION_FIELDS,
    LOG_FILE_NAME,
    SEED_FIELDS,
    U32_MAX,
    U64_MAX,
)

from .helpers import MakeSpan, chat_attributes

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pandas")

from examples import analysis_duckdb, analysis_pandas  # noqa: E402 - after the skips
from examples._common import COLUMNS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ODD_MODEL = "claude-sonnet-5-5\u2028preview"  # a line separator JSON leaves unescaped
OPENAI = {
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-5.6-luna",
    "gen_ai.response.model": "gpt-5.6-luna",
}
ONE_HOUR = {"token_usage.cache_write.1h.input_tokens": 1_500}


def _keys(path: Path) -> list[list[str]]:
    return [list(json.loads(line)) for line in path.read_bytes().split(b"\n") if line]


def _export(
    sessions_dir: Path, spans: list[ReadableSpan], line_format: Literal["extended", "seed"]
) -> None:
    exporter = TokenUsageSpanExporter(sessions_dir, line_format=line_format)
    exporter.export(spans)
    exporter.shutdown()


def test_extended_lines_all_have_every_key_and_seed_lines_the_rust_fields(
    make_span: MakeSpan, tmp_path: Path
) -> None:
    """An OpenAI call (no 5m/1h split) and an Anthropic call with one have the same keys
    in the same order, the unknown ones null; seed lines have the twenty Rust fields."""
    spans = [make_span(chat_attributes(**OPENAI)), make_span(chat_attributes(**ONE_HOUR))]
    formats: list[tuple[Literal["extended", "seed"], list[str]]] = [
        ("extended", [*SEED_FIELDS, *EXTENSION_FIELDS]),
        ("seed", list(SEED_FIELDS)),
    ]
    for line_format, fields in formats:
        _export(tmp_path / line_format, spans, line_format)
        assert _keys(tmp_path / line_format / "sess-1" / LOG_FILE_NAME) == [fields] * 2
    openai_line = json.loads((tmp_path / "extended" / "sess-1" / LOG_FILE_NAME).open().readline())
    assert openai_line["cache_creation_1h_input_tokens"] is None
    assert openai_line["span_id"]


def test_duckdb_reads_a_field_only_later_files_carry(make_span: MakeSpan, tmp_path: Path) -> None:
    """Forty sessions, only the last with 1-hour cache writes (DuckDB infers a schema
    from the first files only): the README's declared columns and `read_json_auto(...,
    union_by_name = true)` both have the column and sum it."""
    for n in range(40):
        extra = ONE_HOUR if n == 39 else OPENAI
        attrs = chat_attributes(**{"gen_ai.conversation.id": f"s{n:02d}"}, **extra)
        _export(tmp_path, [make_span(attrs)], "extended")
    con = duckdb.connect()
    con.execute(_readme_sql().split(";")[0].replace("sessions/", f"{tmp_path}/"))
    pattern = str(tmp_path / "*" / LOG_FILE_NAME)
    union = f"read_json_auto('{pattern}', union_by_name = true)"
    for table in ("token_usage", union):
        ((hour, calls),) = con.sql(
            f"SELECT sum(cache_creation_1h_input_tokens), count(*) FROM {table}"
        ).fetchall()
        assert (hour, calls) == (1_500, 40)


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_jq_sees_the_same_keys_on_every_line(make_span: MakeSpan, tmp_path: Path) -> None:
    """`jq -s 'map(keys_unsorted) | unique'` over a log of OpenAI and Anthropic calls
    finds one set of keys."""
    spans = [make_span(chat_attributes(**OPENAI)), make_span(chat_attributes(**ONE_HOUR))]
    _export(tmp_path, spans, "extended")
    done = subprocess.run(
        ["jq", "-s", "-c", "map(keys_unsorted) | unique"],
        stdin=(tmp_path / "sess-1" / LOG_FILE_NAME).open("rb"),
        capture_output=True,
        check=True,
    )
    assert json.loads(done.stdout) == [[*SEED_FIELDS, *EXTENSION_FIELDS]]


def test_example_columns_are_the_record_fields_with_their_rust_types() -> None:
    """`examples/_common.COLUMNS` names every field in line order; u32 counts are
    UINTEGER and u64/usize counts UBIGINT, as `RecordLine` declares them."""
    assert list(COLUMNS) == [*SEED_FIELDS, *EXTENSION_FIELDS]
    for name, limit in COUNT_LIMITS.items():
        assert COLUMNS[name] == {U32_MAX: "UINTEGER", U64_MAX: "UBIGINT"}[limit], name


def _readme_sql() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### DuckDB, pandas, jq and Parquet") :]
    start = section.index("```sql\n") + len("```sql\n")
    return section[start : section.index("```", start)]


def _record(ts: str, session: str, **values: Any) -> TokenUsageRecord:
    record = TokenUsageRecord.new(
        ts, session, "claude-opus-4-8", "anthropic", 1, None, 0, 0, 0, 0, 0
    )
    return record.model_copy(update=values)


@pytest.fixture
def edge_tree(tmp_path: Path) -> Iterator[Path]:
    """Three sessions: `a-seed` in the seed format (no extension keys, first in order)
    with one line whose `ts` is not a time; `b-big` with u64 maxima whose sums pass
    u64; `c-odd` with U+2028 in its model name and 1-hour cache writes, a `ts` with an
    offset that is the next UTC day, and a torn last line."""
    root = tmp_path / "sessions"
    lines = {
        "a-seed": [
            _record("2026-11-25T10:00:00.000Z", "a-seed", input_tokens=1_000).to_json_line(
                seed=True
            ),
            _record("yesterday", "a-seed").to_json_line(seed=True),
            _record("2026-11-25T10:01:00.000Z", "a-seed", cache_read_input_tokens=900).to_json_line(
                seed=True
            ),
        ],
        "b-big": [
            _record("2026-11-25T11:00:00.000Z", "b-big", input_tokens=U64_MAX).to_json_line(),
            _record(
                "2026-11-25T11:01:00.000Z", "b-big", cache_read_input_tokens=U64_MAX, input_tokens=5
            ).to_json_line(),
        ],
        "c-odd": [
            _record(
                f"2026-11-25T23:{minute}:00.000Z",
                "c-odd",
                model=ODD_MODEL,
                input_tokens=100,
                cache_creation_input_tokens=2_000,
                cache_creation_1h_input_tokens=2_000,
            ).to_json_line()
            for minute in (10, 20)
        ]
        + [
            _record(
                "2026-11-25T22:30:00.000-02:00",
                "c-odd",
                model=ODD_MODEL,
                cache_read_input_tokens=2_000,
            ).to_json_line(),
            '{"ts":"2026-11-26T00:3',
        ],
    }
    for session, texts in lines.items():
        (root / session).mkdir(parents=True)
        data = "\n".join(texts) + ("" if texts[-1].endswith(":3") else "\n")
        (root / session / LOG_FILE_NAME).write_bytes(data.encode())
    assert "\u2028".encode() in (root / "c-odd" / LOG_FILE_NAME).read_bytes()  # unescaped
    yield root


def test_readme_duckdb_query_types_every_column_right(edge_tree: Path) -> None:
    """The README's DuckDB query, run as written on the edge tree: its columns are
    `COLUMNS`; counts are UBIGINT (u64 maxima read exactly), sums exact past u64, the
    U+2028 model intact, and the seed session's missing fields NULL."""
    sql = _readme_sql()
    declared = dict(re.findall(r"(\w+): '(\w+)'", sql))
    assert declared == COLUMNS
    con = duckdb.connect()
    statements = [s for s in sql.replace("sessions/", f"{edge_tree}/").split(";") if s.strip()]
    for statement in statements[:-1]:
        con.execute(statement)
    rows = {row[0]: row for row in con.sql(statements[-1]).fetchall()}
    assert rows["b-big"][1:3] == (2, U64_MAX + U64_MAX + 5)
    assert rows["c-odd"][1:] == (3, 6_200, pytest.approx(2_000 / 6_200))
    described = {row[0]: row[1] for row in con.sql("DESCRIBE token_usage").fetchall()}
    assert described == COLUMNS
    assert con.sql(
        "SELECT session_id, list(DISTINCT model), count(cache_creation_1h_input_tokens) "
        "FROM token_usage WHERE session_id IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall() == [
        ("a-seed", ["claude-opus-4-8"], 0),
        ("b-big", ["claude-opus-4-8"], 0),
        ("c-odd", [ODD_MODEL], 2),
    ]


def test_duckdb_and_pandas_examples_are_exact_on_edge_values(edge_tree: Path) -> None:
    """Both analysis examples give the same tables on the edge tree: every line of the
    U+2028 session counted (pandas used to split them apart), sums past u64 exact (they
    used to overflow), the 1-hour writes seen after a file without the field, and the
    torn line and the one whose `ts` is not a time skipped and counted."""
    logs = sorted(edge_tree.glob(f"*/{LOG_FILE_NAME}"))
    by_duckdb = analysis_duckdb.results(analysis_duckdb.connect(edge_tree))
    calls, skipped = analysis_pandas.load(logs)
    by_pandas = analysis_pandas.as_json(analysis_pandas.results(calls), skipped)
    # Costs are floats (USD) in both; at 10^14 dollars they differ in the last digits.
    money = ("cost_usd", "no_cache_usd")
    for row_p, row_d in zip(by_pandas["cost"], by_duckdb["cost"], strict=True):
        for key in money:
            usd = row_d.pop(key)
            assert row_p.pop(key) == (None if usd is None else pytest.approx(usd, rel=1e-12))
    assert by_pandas == by_duckdb
    sessions = {row["session_id"]: row for row in by_duckdb["sessions"]}
    assert sessions["b-big"]["prompt_tokens"] == U64_MAX + U64_MAX + 5
    assert sessions["b-big"]["cache_read"] == U64_MAX
    assert sessions["c-odd"]["calls"] == 3
    assert sessions["a-seed"]["calls"] == 2
    assert by_duckdb["skipped"] == 2
    assert ODD_MODEL in {row["model"] for row in by_duckdb["cost"]}


@pytest.mark.slow  # a subprocess importing the SDKs
def test_parquet_recipe_writes_one_partition_per_utc_day(edge_tree: Path, tmp_path: Path) -> None:
    """`python -m examples.parquet_export` writes `day=YYYY-MM-DD/` Parquet partitions
    by the UTC day of each call (an offset `ts` lands in its UTC day), keeps u64 counts
    and U+2028 exactly, types `ts` as a UTC timestamp, and counts the lines it skips; a
    second run replaces the output instead of adding to it."""
    out = tmp_path / "parquet"
    command = [
        sys.executable,
        "-m",
        "examples.parquet_export",
        "--sessions-dir",
        str(edge_tree),
        "--out",
        str(out),
    ]
    for _ in range(2):
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
    assert "7 calls of 3 session logs" in done.stdout and "2 lines skipped" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["day=2026-11-25", "day=2026-11-26"]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    table = f"read_parquet('{out}/*/*.parquet', hive_partitioning = true)"
    per_day = con.sql(
        f"SELECT day::VARCHAR, count(*), sum(input_tokens), sum(cache_read_input_tokens) "
        f"FROM {table} GROUP BY day ORDER BY day"
    ).fetchall()
    assert per_day == [
        ("2026-11-25", 6, 1_000 + U64_MAX + 5 + 200, 900 + U64_MAX),
        ("2026-11-26", 1, 0, 2_000),
    ]
    relation = con.sql(f"SELECT * FROM {table}")
    types = {
        column: str(kind) for column, kind in zip(relation.columns, relation.types, strict=True)
    }
    assert types["ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["input_tokens"] == "UBIGINT" and types["system_tokens"] == "UINTEGER"
    assert types["cache_creation_1h_input_tokens"] == "UBIGINT"
    models = con.sql(f"SELECT DISTINCT model FROM {table} ORDER BY 1").fetchall()
    assert models == [("claude-opus-4-8",), (ODD_MODEL,)]
