"""The `token-usage` command (see `main`)."""

from __future__ import annotations

from ._main import COMMANDS, Command, build_parser, main

__all__ = ["COMMANDS", "Command", "build_parser", "main"]
