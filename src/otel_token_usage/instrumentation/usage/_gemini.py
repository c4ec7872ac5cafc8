"""Google Gemini / Vertex AI usage (`google-genai`'s `GenerateContentResponseUsageMetadata`,
or the API's camelCase `usageMetadata` dict).

- `prompt_token_count` includes `cached_content_token_count` (the cache reads);
  `tool_use_prompt_token_count` (results of server-side tools fed back to the model) is
  input too and is *not* part of it. Inclusive input = prompt + tool-use prompt.
- `candidates_token_count` excludes `thoughts_token_count`; thoughts are billed as
  output. Output = candidates + thoughts; thinking = thoughts.
- No cache write is ever reported (explicit caches are billed when created, outside
  `generate_content`).
"""

from __future__ import annotations

from ._model import Usage, count

__all__ = ["FIELDS", "read"]

_PROMPT = ("prompt_token_count", "promptTokenCount")
_TOOL_USE = ("tool_use_prompt_token_count", "toolUsePromptTokenCount")
_CACHED = ("cached_content_token_count", "cachedContentTokenCount")
_CANDIDATES = ("candidates_token_count", "candidatesTokenCount")
_THOUGHTS = ("thoughts_token_count", "thoughtsTokenCount")
_TOTAL = ("total_token_count", "totalTokenCount")

FIELDS = (*_PROMPT, *_TOOL_USE, *_CACHED, *_CANDIDATES, *_THOUGHTS, *_TOTAL)
"""Any of these set means Gemini's shape."""


def read(usage: object) -> Usage:
    """`Usage` of a Gemini usage metadata object or dict."""
    thoughts = count(usage, *_THOUGHTS)
    return Usage(
        input_tokens=(count(usage, *_PROMPT) or 0) + (count(usage, *_TOOL_USE) or 0),
        output_tokens=(count(usage, *_CANDIDATES) or 0) + (thoughts or 0),
        cache_read_input_tokens=count(usage, *_CACHED) or 0,
        reasoning_output_tokens=thoughts,
    )
