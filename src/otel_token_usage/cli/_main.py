"""`token-usage`: offline analysis of session logs (report, cache, cost, plot, validate,
schema) and building them from OTLP files (ingest).

Each subcommand lives in its own module of this package, imported only when that command
runs (so `ingest`, which needs the OpenTelemetry SDK, costs the others nothing). Errors a
person can meet end in one line on stderr and a non-zero exit status, never a traceback
(set `OTEL_TOKEN_USAGE_DEBUG=1` to see one for an unexpected error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_token_usage._util import UserError, printable, version

from ._common import EXIT_ERROR, PROG, silence_stdout

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """A subcommand: the module that implements it, and the names there of the function
    that adds its arguments and of the one that runs it (returning the exit status)."""

    name: str
    help: str
    module: str
    configure: str = "configure"
    run: str = "run"

    def load(self) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[..., int]]:
        """(configure, run), importing the command's module."""
        module = importlib.import_module(self.module, __package__)
        return getattr(module, self.configure), getattr(module, self.run)


COMMANDS: list[Command] = [
    Command(
        "report",
        "usage, cache effectiveness and cost per session, model or day",
        "._report",
        "configure_report",
        "run_report",
    ),
    Command("cache", "cache timeline per call, with the reason of every cold round", "._cache"),
    Command(
        "cost",
        "cost by model with cache prices, and the saving versus no cache",
        "._report",
        "configure_cost",
        "run_cost",
    ),
    Command("plot", "picture of prompt size, cache reads/writes and hit ratio per round", "._plot"),
    Command(
        "validate",
        "check every line against the record schema (exit 1 on bad lines)",
        "._validate",
    ),
    Command(
        "schema", "print the JSON Schema of a log line", "._validate", "no_arguments", "run_schema"
    ),
    Command(
        "ingest",
        "build session logs from OTLP JSON trace files (collector `file` exporter), "
        "optionally following them",
        "._ingest",
        "configure_parser",
    ),
]
"""The subcommands, in help order."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of every command in `COMMANDS`. With `only` (a command's
    name), the other commands are listed but not loaded."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Analyse token-usage.jsonl session logs offline."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        if only is None or command.name == only:
            configure, run = command.load()
            configure(child)
            child.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `token-usage` with `argv` (default: the process's); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # Load only the command named (or none, for the top-level `--version` and `--help`).
    first = argv[0] if argv else ""
    named = first if first.startswith("-") or any(c.name == first for c in COMMANDS) else None
    parser = build_parser(named)
    args = parser.parse_args(argv)
    try:
        status: int = args._run(args)
        sys.stdout.flush()
    except UserError as error:
        return _fail(str(error))
    except BrokenPipeError:
        # The reader of our output went away (`| head`): not an error worth a message.
        silence_stdout()
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or error}")
    except Exception as error:  # the CLI promises no traceback
        if os.environ.get("OTEL_TOKEN_USAGE_DEBUG"):
            raise
        return _fail(f"internal error: {type(error).__name__}: {error}")
    return status


def _fail(message: str) -> int:
    print(f"{PROG}: error: {printable(' '.join(message.split()))}", file=sys.stderr)
    return EXIT_ERROR
