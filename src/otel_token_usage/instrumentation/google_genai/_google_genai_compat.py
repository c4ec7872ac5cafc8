"""Every private name of the `google-genai` SDK the Gemini instrumentor uses, in one place.

One public `models.generate_content(...)` call can be several HTTP requests: with
automatic function calling (Python functions in `config.tools`) the SDK calls the model,
runs the function and calls again, returning only the last response; with automatic
continuation (on by default in google-genai 3) it follows continuation tokens and sums
the hops' usage. Each request is billed on its own, so the instrumentor wraps the methods
that send exactly one request: `Models._generate_content`,
`Models._generate_content_stream`, `AsyncModels._generate_content` and
`AsyncModels._generate_content_stream` (private: the SDK has no public per-request hook).
Every public path (`generate_content[_stream]`, chats) goes through them.

When a release drops one of them, `targets()` warns once, loudly, and the public methods
are wrapped instead: calls with automatic function calling are then one span with the
last request's usage, and continued calls one span with the hops' summed usage.
`tests/test_compat.py` fails as soon as the installed SDK lacks a name listed here.
"""

from __future__ import annotations

import importlib
import logging
from typing import Literal

__all__ = ["MODULE", "PER_REQUEST", "PUBLIC", "Kind", "targets"]

MODULE = "google.genai.models"

Kind = Literal["json", "stream", "async_json", "async_stream"]

PER_REQUEST: tuple[tuple[str, str, Kind], ...] = (
    ("Models", "_generate_content", "json"),
    ("Models", "_generate_content_stream", "stream"),
    ("AsyncModels", "_generate_content", "async_json"),
    ("AsyncModels", "_generate_content_stream", "async_stream"),
)
"""(class, private method, kind): the methods that send one HTTP request each."""

PUBLIC: tuple[tuple[str, str, Kind], ...] = (
    ("Models", "generate_content", "json"),
    ("Models", "generate_content_stream", "stream"),
    ("AsyncModels", "generate_content", "async_json"),
    ("AsyncModels", "generate_content_stream", "async_stream"),
)
"""The public methods, wrapped only when the private ones are gone (same kinds)."""

_log = logging.getLogger(__name__)


def targets() -> tuple[tuple[str, str, Kind], ...]:
    """The methods to wrap: the per-request ones when all exist, else the public ones
    (with a warning saying what is lost)."""
    module = importlib.import_module(MODULE)
    missing = [
        f"{owner}.{name}"
        for owner, name, _ in PER_REQUEST
        if not callable(getattr(getattr(module, owner, None), name, None))
    ]
    if not missing:
        return PER_REQUEST
    _log.warning(
        "google-genai: %s gone; otel-token-usage instruments the public generate_content "
        "methods instead, so a call with automatic function calling is one span with only "
        "its last request's usage, and a continued call one span with its hops summed",
        ", ".join(missing),
    )
    return PUBLIC
