"""One normalisation of provider usage, and the span attributes it becomes.

Every writer of LLM spans in this project (the manual `llm_call` API and the
instrumentors) turns a provider's usage object into `Usage` here and writes
`Usage.attributes()`, so there is exactly one place where the providers' arithmetic
lives, one module per usage shape:

- Anthropic (`_anthropic`): inclusive input = input + cache read + cache write; the
  5m/1h cache-write split; thinking from `output_tokens_details`.
- OpenAI Chat Completions and the compatible providers (`_openai`): `prompt_tokens` are
  inclusive; DeepSeek's `prompt_cache_hit_tokens` are the reads; xAI's reasoning comes on
  top of `completion_tokens`.
- OpenAI Responses (`_openai`): `input_tokens` are inclusive; the 30m/12h cache-write
  split stays on the span.
- Gemini / Vertex AI (`_gemini`): inclusive input = prompt + tool-use prompt; output =
  candidates + thoughts; no cache writes.
- Bedrock Converse (`_bedrock`): inclusive input = input + cache read + cache write; the
  5m/1h split from `cacheDetails`; no thinking count.

Each reads the SDK's usage object or its dict form (the API's JSON). A usage of none of
these shapes is not recorded as zeros: `normalize_usage` returns None and logs a
throttled warning naming the fields it saw. A field whose value is not a count is
ignored with a throttled warning naming it. Nothing here raises.
"""

from __future__ import annotations

from collections.abc import Callable

from . import _anthropic, _bedrock, _gemini, _openai
from ._model import Usage, fields_seen, present, warn

__all__ = ["Usage", "normalize_usage"]

# (fields that identify the shape, its reader); the first shape whose fields are present
# wins. Order matters only where shapes share names: Responses' `input_tokens_details`
# is checked before Anthropic's `input_tokens`.
_SHAPES: tuple[tuple[tuple[str, ...], Callable[[object, str | None], Usage]], ...] = (
    (_gemini.FIELDS, lambda usage, _provider: _gemini.read(usage)),
    (_bedrock.FIELDS, lambda usage, _provider: _bedrock.read(usage)),
    (_openai.CHAT_FIELDS, _openai.read_chat),
    (_openai.RESPONSES_FIELDS, lambda usage, _provider: _openai.read_responses(usage)),
    (_anthropic.FIELDS, lambda usage, _provider: _anthropic.read(usage)),
)


def normalize_usage(usage: object, provider: str | None = None) -> Usage | None:
    """`Usage` from a provider's usage object or its dict form: Anthropic `Usage`,
    OpenAI `CompletionUsage` / `ResponseUsage` (and the OpenAI-compatible providers'
    variants), Gemini `usage_metadata`, Bedrock Converse `usage`; a `Usage` is returned
    as it is.

    `provider` (`gen_ai.provider.name`) settles what the usage alone cannot: xAI's
    reasoning tokens outside `completion_tokens`. None (with a throttled warning naming
    the fields seen) when `usage` is None or of no known shape. Never raises.
    """
    if isinstance(usage, Usage):
        return usage
    if usage is None:
        warn.warning("none", "usage is None: nothing recorded for this call")
        return None
    try:
        for names, reader in _SHAPES:
            if present(usage, names):
                return reader(usage, provider)
        seen = fields_seen(usage)
    except Exception as exc:  # noqa: BLE001 - a user's object may fail in odd ways
        warn.warning("error", "could not read usage %s: %s", type(usage).__name__, exc)
        return None
    warn.warning(
        f"shape:{type(usage).__name__}:{','.join(seen)}",
        "usage %s of no known shape (fields: %s): nothing recorded for this call; "
        "otel-token-usage reads Anthropic, OpenAI (and compatible), Gemini and Bedrock usage",
        type(usage).__name__,
        ", ".join(seen) or "none",
    )
    return None
