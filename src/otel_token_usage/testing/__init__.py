"""A local fake of the Anthropic and OpenAI APIs for tests, demos and benchmarks.

`FakeProvider` is an HTTP server on 127.0.0.1 that the real `anthropic` and `openai`
SDKs talk to unchanged (JSON and streaming), with deterministic token counts, simulated
prompt caching on an injectable clock (`FakeClock`), and hooks to record every exchange
and inject failures::

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
