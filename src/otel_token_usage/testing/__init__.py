"""A local fake of the LLM provider APIs for tests, demos, examples and benchmarks.

`FakeProvider` is an HTTP server on 127.0.0.1 that the real SDKs talk to unchanged (JSON
and streaming): `anthropic`, `openai` (OpenAI, and DeepSeek, xAI, Groq, Mistral, Azure
OpenAI through their hosts with the fake as proxy), `google-genai` (Gemini API and
Vertex AI) and `boto3` (Bedrock Converse / ConverseStream). Deterministic token counts,
simulated prompt caching on an injectable clock (`FakeClock`), and hooks to record every
exchange and inject failures::

    from otel_token_usage.testing import FakeClock, FakeProvider

    with FakeProvider(clock=FakeClock()) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="test")
        client.messages.create(...)
        fake.responses[-1].usage  # exactly the usage the server sent

Token rule (`count_tokens`): one token per whitespace-separated word of every string in
the prompt (system, messages, tools), markup such as `type`/`role`/ids excluded.
Standard library only.
"""

from __future__ import annotations

from ._cache import CacheOutcome
from ._clock import Clock, FakeClock
from ._provider import FakeProvider
from ._records import ApiName, RecordedRequest, RecordedResponse
from ._tokens import count_tokens

__all__ = [
    "ApiName",
    "CacheOutcome",
    "Clock",
    "FakeClock",
    "FakeProvider",
    "RecordedRequest",
    "RecordedResponse",
    "count_tokens",
]
