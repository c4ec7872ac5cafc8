"""Instrumentation: LLM calls become spans carrying their exact token usage.

`LLMCallSpan` (private, `_span`) is the single writer of LLM-call spans shared by the
manual API and the provider instrumentors.
"""

from __future__ import annotations

__all__: list[str] = []
