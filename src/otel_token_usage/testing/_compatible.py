"""The OpenAI-compatible providers' own twists on Chat Completions, as the fake answers
them when asked through their host (see `_routes`): DeepSeek and xAI usage shapes,
DeepSeek's `reasoning_content`. Azure OpenAI, Mistral and Groq answer in OpenAI's shape.

- DeepSeek: `usage.prompt_cache_hit_tokens` + `prompt_cache_miss_tokens` =
  `prompt_tokens` at the top level (plus `prompt_tokens_details.cached_tokens` = hits, as
  newer responses carry); reasoning inside `completion_tokens`; `deepseek-reasoner`
  always reasons and shows it in `message.reasoning_content` (a `reasoning_content`
  delta when streamed).
- xAI: `completion_tokens` *exclude* `completion_tokens_details.reasoning_tokens`
  (`total_tokens` = prompt + completion + reasoning); `grok-4*` models always reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import _openai as openai
from ._cache import CacheOutcome
from ._reply import Reply
from ._wire import JSONObject, SseEvent, sse

__all__ = ["chat_usage", "reasons", "with_reasoning"]

DEEPSEEK = "deepseek"
XAI = "x_ai"


def reasons(provider: str, model: str, body: Mapping[str, Any]) -> bool:
    """Whether a chat request to `provider` produces reasoning tokens."""
    if provider == DEEPSEEK and "reasoner" in model:
        return True
    if provider == XAI and model.startswith("grok-4"):
        return True
    return openai.chat_settings(body)[0]


def chat_usage(provider: str, outcome: CacheOutcome, reply: Reply) -> JSONObject:
    """The `usage` of a chat completion in `provider`'s shape."""
    if provider == DEEPSEEK:
        return {
            "prompt_tokens": outcome.total,
            "completion_tokens": reply.output_tokens,
            "total_tokens": outcome.total + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": outcome.read},
            "prompt_cache_hit_tokens": outcome.read,
            "prompt_cache_miss_tokens": outcome.total - outcome.read,
            "completion_tokens_details": {"reasoning_tokens": reply.thinking_tokens},
        }
    if provider == XAI:
        return {
            "prompt_tokens": outcome.total,
            "completion_tokens": reply.text_tokens,
            "total_tokens": outcome.total + reply.output_tokens,
            "prompt_tokens_details": {
                "text_tokens": outcome.total,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": outcome.read,
            },
            "completion_tokens_details": {
                "reasoning_tokens": reply.thinking_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
            "num_sources_used": 0,
        }
    return openai.chat_usage(outcome, reply)


def with_reasoning(
    provider: str, reply: Reply, completion: JSONObject | None, chunks: list[SseEvent] | None
) -> None:
    """Add DeepSeek's visible reasoning to a completion (its message) or a stream (one
    `reasoning_content` delta after the role chunk), in place."""
    if provider != DEEPSEEK or not reply.thinking:
        return
    if completion is not None:
        completion["choices"][0]["message"]["reasoning_content"] = reply.thinking
    if chunks:
        first = chunks[0].payload.decode().split("data: ", 1)[1]
        data = json.loads(first)
        data["choices"][0]["delta"] = {"reasoning_content": reply.thinking}
        chunks.insert(1, sse(data))
