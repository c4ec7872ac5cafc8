"""Getting the package and its command: `token-usage --version`, `python -m
otel_token_usage`, the extras the README lists, and `make demo`, which installs only what
the demo runs and prints commands that work in the user's shell."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from otel_token_usage import demo
from otel_token_usage.record import LOG_FILE_NAME

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TIMEOUT_S = 120
DISTRIBUTION = "otel-token-usage"
# A PATH without this virtual environment: what a user's shell has after `make demo`.
BARE_PATH = os.pathsep.join(
    p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != BIN
)


def _run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, **options
    )


@pytest.mark.parametrize(
    "command",
    [[str(BIN / "token-usage")], [sys.executable, "-m", "otel_token_usage"]],
    ids=["script", "python -m"],
)
def test_version_is_the_installed_distributions(command: list[str]) -> None:
    """`token-usage --version` and `python -m otel_token_usage --version` print the
    installed version and exit 0."""
    done = _run([*command, "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"token-usage {metadata.version(DISTRIBUTION)}\n"


def test_python_dash_m_is_the_token_usage_command(tmp_path: Path) -> None:
    """`python -m otel_token_usage` runs the same commands as the `token-usage` script,
    from a shell where the script is not on PATH."""
    log = tmp_path / "s" / LOG_FILE_NAME
    log.parent.mkdir()
    log.write_text(
        '{"ts":"2026-11-02T10:00:00.000Z","session_id":"s","model":"m","provider":"p",'
        '"message_count":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,'
        '"input_tokens":10,"output_tokens":2,"thinking_tokens":0,"system_tokens":0,'
        '"summary_tokens":0,"window_tokens":0,"total_tokens":0,"max_context_tokens":0,'
        '"budget_limit":0,"prompt_cached_tool_outputs":0,"prompt_cached_tool_tokens_saved":0,'
        '"truncation_occurred":false,"segments_removed":0}\n',
        encoding="utf-8",
    )
    env = os.environ | {"PATH": BARE_PATH}
    module = [sys.executable, "-m", "otel_token_usage"]
    script = [str(BIN / "token-usage")]
    for args in (["report", "--format", "json", str(tmp_path)], ["schema"]):
        by_module, by_script = _run([*module, *args], env=env), _run([*script, *args], env=env)
        assert by_module.returncode == by_script.returncode == 0, by_module.stderr
        assert by_module.stdout == by_script.stdout
    assert json.loads(_run([*module, "schema"], env=env).stdout)["title"] == "TokenUsageRecord"


def _extras_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Install") :]
    section = section[: section.index("\n## ", 1)]
    return dict(re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+) \|", section, flags=re.MULTILINE))


def test_readme_lists_every_extra_with_what_it_installs() -> None:
    """The README's extras table names each extra of pyproject.toml, no more, and each
    row names the provider SDK the extra exists for."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    table = _extras_table()
    assert set(table) == set(extras)
    for name in ("anthropic", "openai", "google-genai", "boto3", "plot", "zero-code", "demo"):
        for requirement in extras[name]:
            assert f"`{Requirement(requirement).name}`" in table[name], (name, requirement)


def test_make_demo_installs_only_the_demo_extra(tmp_path: Path) -> None:
    """`make demo` installs the package with the `demo` extra alone (not the test tool
    chain) and lets pip show its progress."""
    done = _run(["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"], cwd=ROOT)
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if " pip install " in line]
    assert installs == [
        f"{tmp_path / 'venv'}/bin/python -m pip install --progress-bar on -e '.[demo]'"
    ]
    assert "--quiet" not in done.stdout


def _requirement_closure(name: str, extras: frozenset[str]) -> set[str]:
    """The installed distributions `name[extras]` needs, itself included."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(name, extras)]
    while todo:
        dist, wanted = todo.pop()
        key = (canonicalize_name(dist), wanted)
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue  # needed only on other platforms
        for line in requires:
            req = Requirement(line)
            if req.marker is None or any(
                req.marker.evaluate({"extra": extra}) for extra in (wanted or {""})
            ):
                todo.append((req.name, frozenset(req.extras)))
    return {dist for dist, _ in seen}


# Runs the demo with every installed distribution that `otel-token-usage[demo]` does not
# require hidden from imports, as if only `make demo`'s install were there. Optional
# imports (time-machine tries pytest and dateutil) then fail as they would there.
_DEMO_RUN = textwrap.dedent(
    """
    import importlib.machinery, json, sys
    from importlib import metadata
    from pathlib import Path
    allowed = set(json.loads(sys.argv[1]))
    owners = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            owners[str(Path(dist.locate_file(file)).resolve())] = dist.metadata["Name"]
    blocked = set()

    class Hide:
        @staticmethod
        def find_spec(name, path=None, target=None):
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            origin = spec and spec.origin and str(Path(spec.origin).resolve())
            owner = owners.get(origin) if origin else None
            if owner is not None and owner.lower().replace("_", "-") not in allowed:
                blocked.add(owner)
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    from otel_token_usage import demo
    demo.main(sys.argv[3:])
    Path(sys.argv[2]).write_text(json.dumps(sorted(blocked)))
    """
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str]]:
    """The demo, run as `make demo` runs it, from a shell without the virtual environment
    on PATH and with only what the `demo` extra installs importable: (its directory, what
    it printed, the distributions whose import was refused)."""
    where = tmp_path_factory.mktemp("demo")
    allowed = json.dumps(sorted(_requirement_closure(DISTRIBUTION, frozenset({"demo"}))))
    blocked = where / "blocked.json"
    done = _run(
        [sys.executable, "-c", _DEMO_RUN, allowed, str(blocked), "--sessions-dir", "sessions"],
        cwd=where,
        env=os.environ | {"PATH": BARE_PATH},
    )
    assert done.returncode == 0, done.stderr
    return where, done.stdout, json.loads(blocked.read_text())


@pytest.mark.slow
def test_demo_prints_commands_the_users_shell_can_run(
    demo_run: tuple[Path, str, list[str]],
) -> None:
    """Each `$ ...` command the demo shows, and the one it suggests trying, runs as
    pasted into a shell that does not have the virtual environment on PATH (where a bare
    `token-usage` is "command not found")."""
    where, out, _ = demo_run
    shown = [line[2:] for line in out.splitlines() if line.startswith("$ ")]
    tried = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Try it")]
    assert len(shown) == 2 and len(tried) == 1
    assert _run(["sh", "-c", "token-usage --version"], env={"PATH": BARE_PATH}).returncode != 0
    for command in (*shown, *tried):
        assert not command.startswith("token-usage ")
        done = _run(["sh", "-c", command], cwd=where, env={"PATH": BARE_PATH})
        assert done.returncode == 0, (command, done.stderr)
        assert "demo" in done.stdout
    assert "bin/activate" in out


def test_demo_names_token_usage_bare_where_the_shell_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With this installation's script on PATH (an activated environment) the demo
    shows plain `token-usage`; without it, a path the shell can run."""
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{BARE_PATH}")
    assert demo.shell_command() == "token-usage"
    monkeypatch.setenv("PATH", BARE_PATH)
    command = demo.shell_command()
    assert command != "token-usage"
    assert Path(shlex.split(command)[0]).resolve() == (BIN / "token-usage").resolve()


@pytest.mark.slow
def test_demo_runs_with_only_what_the_demo_extra_installs(
    demo_run: tuple[Path, str, list[str]],
) -> None:
    """The demo runs to its end with every distribution outside `otel-token-usage[demo]`
    hidden (the fixture checks its exit status and its log), so the `make demo` install
    is enough; what it tried and was refused is only optional (time-machine's probes,
    and the pydantic plugin logfire-sdk registers, which pydantic tries wherever the test
    extra installed logfire)."""
    where, out, blocked = demo_run
    assert (where / "sessions" / demo.SESSION / LOG_FILE_NAME).is_file()
    assert "ttl_expired" in out
    optional = {"pytest", "python-dateutil", "logfire-sdk"}
    assert {canonicalize_name(name) for name in blocked} <= optional
