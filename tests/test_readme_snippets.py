"""What the README tells a user to paste works as pasted: every Python block runs in a
fresh interpreter (against the local fake provider), the fleet backfill command works
before the first rotation, the price file shown is `examples/prices.toml` and
`token-usage cost --prices` prices with it; and the examples' default models are current
ones that `genai-prices` prices."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from otel_token_usage import TokenUsageRecord, demo
from otel_token_usage import semconv as a
from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import LOG_FILE_NAME
from otel_token_usage.testing import FakeProvider

from .helpers import chat_attributes
from .test_ingest import otlp_lines

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
TIMEOUT_S = 120
# Python blocks whose test lives elsewhere: they need an OTLP receiver in place of the
# collector they name (tests/test_configure.py runs them).
TESTED_IN_TEST_CONFIGURE = {"### One call: `configure()`", "### The same by hand"}


def _blocks(text: str, language: str) -> list[tuple[str, str]]:
    """(the heading above it, the code) of each fenced block in `language`."""
    found = []
    heading = ""
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("#"):
            heading = line
        elif line == f"```{language}":
            body = []
            for inner in lines:
                if inner == "```":
                    break
                body.append(inner)
            found.append((heading, "\n".join(body) + "\n"))
    return found


def _run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def _lines(sessions: Path, session: str) -> list[dict[str, object]]:
    text = (sessions / session / LOG_FILE_NAME).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


# A check appended to the "Use it" block, which sets up the pipeline but makes no call.
_ONE_SPAN = textwrap.dedent(
    """
    from opentelemetry.trace import SpanKind
    attributes = {attributes!r}
    with trace.get_tracer("readme").start_as_current_span("chat", kind=SpanKind.CLIENT) as s:
        s.set_attributes(attributes)
    provider.shutdown()
    """
)


def test_every_readme_python_block_is_run_by_a_test() -> None:
    """A Python block added to the README without a test fails here."""
    headings = [heading for heading, _ in _blocks(README.read_text("utf-8"), "python")]
    assert sorted(headings) == sorted(
        ["## Use it", "### Instrumentation and sessions", *TESTED_IN_TEST_CONFIGURE]
    )


def test_use_it_block_runs_as_pasted(tmp_path: Path) -> None:
    """The first block, pasted alone, sets up a pipeline that writes a span's line."""
    ((_, code),) = [b for b in _blocks(README.read_text("utf-8"), "python") if b[0] == "## Use it"]
    attributes = chat_attributes(**{a.GEN_AI_CONVERSATION_ID: "pasted"})
    done = _run_python(code + _ONE_SPAN.format(attributes=attributes), tmp_path)
    assert done.returncode == 0, done.stderr
    assert [line["session_id"] for line in _lines(tmp_path / "sessions", "pasted")] == ["pasted"]


@pytest.mark.slow  # a subprocess importing the SDKs
def test_instrumentation_block_runs_as_pasted(tmp_path: Path) -> None:
    """The instrumentation block, pasted as it is, defines all it uses: with the
    Anthropic SDK pointed at the fake provider (ANTHROPIC_BASE_URL), the call inside
    `session("sess-42", ...)` is a line with the budget and message count, and the
    `llm_call` outside a session is a line in the fallback session."""
    ((_, code),) = [
        b
        for b in _blocks(README.read_text("utf-8"), "python")
        if b[0] == "### Instrumentation and sessions"
    ]
    with FakeProvider() as fake:
        done = _run_python(
            code, tmp_path, ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY="fake"
        )
    assert done.returncode == 0, done.stderr
    (call,) = _lines(tmp_path / "sessions", "sess-42")
    assert (call["model"], call["message_count"], call["system_tokens"]) == (
        "claude-sonnet-5-5",
        1,
        1_200,
    )
    assert call["output_tokens"] > 0  # type: ignore[operator]
    (manual,) = _lines(tmp_path / "sessions", "no-session")
    assert (manual["model"], manual["input_tokens"], manual["output_tokens"]) == (
        "my-model",
        900,
        120,
    )


def _backfill_commands() -> list[tuple[str, str]]:
    """(the backfill command, the directory it names) in README.md and the collector
    kit's README."""
    commands = []
    for readme in (README, ROOT / "collector-config" / "README.md"):
        for _, block in _blocks(readme.read_text("utf-8"), "sh"):
            for line in block.splitlines():
                fleet = line.startswith("token-usage ingest ") and "/srv/sessions" in line
                if fleet and "--follow" not in line:
                    command = line.split("  #")[0].strip()
                    (directory,) = re.findall(r"(\S+/)llm-traces", command)
                    commands.append((command, directory))
    return commands


@pytest.mark.slow
def test_fleet_backfill_command_works_before_and_after_the_first_rotation(
    tmp_path: Path,
) -> None:
    """Each README's backfill command, run by `sh` as written (its directories swapped
    for the test's), ingests the current file when no rotated file exists yet (the glob
    used to match nothing, and ingest failed on the pattern itself), and then the
    rotated files and the current one."""
    commands = _backfill_commands()
    assert len(commands) == 2
    for n, (command, directory) in enumerate(commands):
        data = tmp_path / f"data{n}"
        sessions = tmp_path / f"sessions{n}"
        data.mkdir()
        first = chat_attributes(**{a.GEN_AI_CONVERSATION_ID: "now", a.GEN_AI_RESPONSE_ID: "r1"})
        (data / "llm-traces.json").write_bytes(b"".join(otlp_lines(first)))
        pasted = command.replace(directory, f"{data}/").replace("/srv/sessions", str(sessions))
        env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        for rotated in (False, True):
            if rotated:
                earlier = chat_attributes(
                    **{a.GEN_AI_CONVERSATION_ID: "earlier", a.GEN_AI_RESPONSE_ID: "r0"}
                )
                name = "llm-traces-2026-11-25T10-00-00.000.json"
                (data / name).write_bytes(b"".join(otlp_lines(earlier)))
            done = subprocess.run(
                ["sh", "-c", pasted],
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
            assert done.returncode == 0, (pasted, done.stderr)
        assert len(_lines(sessions, "now")) == 1
        assert len(_lines(sessions, "earlier")) == 1


def test_readme_price_file_is_the_example_file() -> None:
    """The price file the README shows is `examples/prices.toml`, word for word."""
    blocks = [code for _, code in _blocks(README.read_text("utf-8"), "toml")]
    assert (ROOT / "examples" / "prices.toml").read_text("utf-8") in blocks


def test_example_price_file_prices_calls_with_token_usage_cost(tmp_path: Path) -> None:
    """`token-usage cost --prices examples/prices.toml` prices a model only the file
    knows, the file's override of a known model, and a tiered model past its tier
    start, each as the file says (USD per million tokens)."""
    day = "2026-11-25T10:00:00.000Z"
    calls = [  # (provider, model, fresh input, cache read, cache write, 1h part, output)
        ("vllm", "llama-4-maverick-internal", 1_000_000, 500_000, 0, None, 2_000_000),
        ("anthropic", "claude-sonnet-5-5-20261001", 100_000, 1_000_000, 40_000, 10_000, 5_000),
        ("openrouter", "my-long-context-model", 250_000, 0, 0, None, 1_000),
    ]
    log = tmp_path / "s" / LOG_FILE_NAME
    log.parent.mkdir()
    with log.open("w", encoding="utf-8") as out:
        for provider, model, fresh, read, write, hour, output in calls:
            record = TokenUsageRecord.new(
                day, "s", model, provider, 1, None, write, read, fresh, output, 0
            )
            out.write(
                record.model_copy(update={"cache_creation_1h_input_tokens": hour}).to_json_line()
                + "\n"
            )
    done = subprocess.run(
        [
            str(BIN / "token-usage"),
            "cost",
            str(tmp_path),
            "--format",
            "json",
            "--prices",
            str(ROOT / "examples" / "prices.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    costs = {
        row["model"]: Decimal(str(row["cost_usd"])) for row in json.loads(done.stdout)["groups"]
    }
    mtok = Decimal(1_000_000)
    assert (
        costs["llama-4-maverick-internal"]
        == (
            Decimal("0.2") * 1_500_000 + Decimal("0.6") * 2_000_000  # reads bill as input
        )
        / mtok
    )
    assert (
        costs["claude-sonnet-5-5-20261001"]
        == (
            Decimal("1.6") * 100_000
            + Decimal("0.08") * 1_000_000
            + Decimal("2") * 30_000
            + Decimal("3.2") * 10_000
            + Decimal("8") * 5_000
        )
        / mtok
    )
    assert costs["my-long-context-model"] == (Decimal(6) * 250_000 + Decimal("22.5") * 1_000) / mtok


# Models whose providers announced their retirement, with the date and where it is said.
RETIRING = {
    # platform.claude.com/docs/en/about-claude/model-deprecations and the model pages
    "claude-sonnet-4-5": "2026-11-30",
    "claude-opus-4-1": "2026-08-05",
    "claude-sonnet-4-0": "2026-06-15",
    "claude-opus-4-0": "2026-06-15",
    # developers.openai.com/api/docs/deprecations
    "gpt-5": "2026-12-11",
    "gpt-5-mini": "2026-12-11",
    "gpt-5-nano": "2026-12-11",
    "gpt-4.1": "2027-01-14",
    "gpt-4.1-mini": "2027-01-14",
    "gpt-4o": "2027-01-14",
    "gpt-4o-mini": "2027-01-14",
    "gpt-4.1-nano": "2026-10-23",
}


def _default_models() -> dict[str, tuple[str, str]]:
    """Where a default model is set -> (provider, model): each `*MODEL = ...` of the
    examples and the demo, read from the source (the environment may override some)."""
    found: dict[str, tuple[str, str]] = {}
    sources = [*sorted((ROOT / "examples").rglob("*.py")), Path(demo.__file__)]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
                continue
            if not node.targets[0].id.endswith("MODEL"):
                continue
            for constant in ast.walk(node.value):
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                    provider = {"claude": "anthropic", "gpt": "openai"}.get(
                        constant.value.split("-")[0]
                    )
                    if provider is not None:
                        found[f"{path.name}:{node.targets[0].id}"] = (provider, constant.value)
    return found


def test_default_models_of_examples_and_demo_are_current_and_priced() -> None:
    """No default model of the examples or the demo has an announced retirement, and
    each has a price in `genai-prices`' bundled data today, so the examples' costs are
    real ones."""
    defaults = _default_models()
    assert len(defaults) >= 6  # the demo's, manual_spans', _common's and app.py's two
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    book = PriceBook()
    for where, (provider, model) in defaults.items():
        assert model not in RETIRING, f"{where}: {model} retires on {RETIRING[model]}"
        price = book.price(provider, model, today)
        assert price is not None and price.source == "genai-prices", (where, model)


def test_every_variable_the_package_reads_is_in_the_configuration_table() -> None:
    """Each `OTEL_TOKEN_USAGE_*` variable named in the source has a row in the README's
    Configuration table (prefixes such as `OTEL_TOKEN_USAGE_` itself excluded)."""
    source = ROOT / "src" / "otel_token_usage"
    named = {
        name
        for path in source.rglob("*.py")
        for name in re.findall(r"OTEL_TOKEN_USAGE_[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    assert "OTEL_TOKEN_USAGE_SESSIONS_DIR" in named
    text = README.read_text(encoding="utf-8")
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"OTEL_TOKEN_USAGE_[A-Z0-9_]*[A-Z0-9]", table))
    # `_FILE_MODE` shares a row with `OTEL_TOKEN_USAGE_DIR_MODE`.
    rows |= {"OTEL_TOKEN_USAGE" + short for short in re.findall(r"`(_[A-Z_]+)`", table)}
    assert named <= rows, sorted(named - rows)
