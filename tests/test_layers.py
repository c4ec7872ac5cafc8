"""Dependencies point one way: each part of the package imports only the parts below it.

The rules are checked statically, on every import statement of every module (also those
inside functions, which a run-time check would miss), and at run time in a fresh
interpreter for what matters to users: the writing side loads nothing of the reading
side, and `from otel_token_usage import session` loads no pydantic.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "otel_token_usage"
SRC = Path(__file__).resolve().parent.parent / "src" / PACKAGE

# part -> the parts it may import (besides itself). Bottom first.
ALLOWED: dict[str, frozenset[str]] = {
    "_util": frozenset(),
    "record": frozenset({"_util"}),
    "semconv": frozenset({"record"}),
    "_session": frozenset({"semconv", "record", "_util"}),
    "pricing": frozenset({"record", "_util"}),
    "instrumentation": frozenset({"_session", "semconv", "record", "_util"}),
    "export": frozenset({"_session", "semconv", "record", "pricing", "_util"}),
    "pipeline": frozenset({"export", "_session", "semconv", "record", "pricing", "_util"}),
    "ingest": frozenset({"export", "semconv", "record", "pricing", "_util"}),
    "analysis": frozenset({"record", "semconv", "pricing", "_util"}),
    "cli": frozenset({"analysis", "ingest", "export", "pricing", "semconv", "record", "_util"}),
    "testing": frozenset(),
    "_reference": frozenset({"semconv"}),
    "__init__": frozenset(
        {"export", "instrumentation", "pipeline", "record", "_session", "semconv", "_util"}
    ),
    "__main__": frozenset({"cli"}),
    "demo": frozenset(
        {"export", "instrumentation", "record", "_session", "cli", "testing", "__init__"}
    ),
}
WRITING_SIDE = ("record", "semconv", "_session", "instrumentation", "export", "pipeline")
READING_SIDE = ("analysis", "ingest", "cli")


def part_of(module: str) -> str:
    """`otel_token_usage.export._exporter` -> `export`; the package itself -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module of ours that `source` (the code of `module`) imports, anywhere."""
    found: set[str] = set()
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            if target != PACKAGE:
                found.add(target)
                continue
            for alias in node.names:  # `from otel_token_usage import x`: x may be a module
                is_module = (SRC / alias.name).is_dir() or (SRC / f"{alias.name}.py").exists()
                found.add(f"{PACKAGE}.{alias.name}" if is_module else PACKAGE)
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    own = part_of(module)
    allowed = ALLOWED[own] | {own}
    bad = []
    for target in sorted(imported_modules(source, module, is_package)):
        other = part_of(target)
        if other in ALLOWED and other not in allowed:
            bad.append(f"{module} imports {target} ({own} -> {other})")
    return bad


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(relative.parts)
        found.append((name.removesuffix(".__init__"), path))
    return found


def test_every_part_has_a_rule() -> None:
    parts = {part_of(name) for name, _ in modules()}
    assert parts <= set(ALLOWED), f"no import rule for {parts - set(ALLOWED)}"


def test_imports_point_one_way() -> None:
    problems = [
        problem
        for name, path in modules()
        for problem in violations(path.read_text(), name, path.name == "__init__.py")
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("otel_token_usage.export._exporter", "from otel_token_usage.analysis import summarize"),
        ("otel_token_usage.export._metrics", "    from ..analysis import x"),
        ("otel_token_usage.record._line", "from .. import semconv"),
        ("otel_token_usage.instrumentation.openai._call", "import otel_token_usage.cli"),
        ("otel_token_usage.pricing._prices", "from otel_token_usage import export"),
    ],
)
def test_a_backwards_import_is_caught(module: str, line: str) -> None:
    """The checker itself: each of these lines, added to that module, is a violation."""
    source = f"def f():\n    pass\n{line.strip()}\n"
    assert violations(source, module)


def loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement",
    [
        "from otel_token_usage import TokenUsageSpanExporter, SessionSpanProcessor, configure",
        "from otel_token_usage import llm_call, session",
        "import otel_token_usage.instrumentation.anthropic",
        "import otel_token_usage.instrumentation.openai",
    ],
)
def test_the_writing_side_loads_nothing_of_the_reading_side(statement: str) -> None:
    loaded = loaded_after(statement)
    reading = sorted(m for m in loaded if part_of(m) in READING_SIDE and m.startswith(PACKAGE))
    assert not reading


def test_session_loads_no_pydantic() -> None:
    loaded = loaded_after("from otel_token_usage import session, current_session")
    assert "pydantic" not in loaded
    assert not any(m.startswith("opentelemetry.sdk") for m in loaded)
