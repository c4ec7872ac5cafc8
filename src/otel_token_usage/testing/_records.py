"""What the fake provider remembers of each exchange, for tests to compare against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ._cache import CacheOutcome
from ._wire import JSONObject

ApiName = Literal[
    "anthropic.messages",
    "anthropic.count_tokens",
    "openai.chat",
    "openai.responses",
    "gemini.generate_content",
    "bedrock.converse",
    "unknown",
]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request exactly as the server received it.

    `index` counts requests from 0 and matches the `RecordedResponse` of the same
    exchange; `headers` has lower-case names; `body` is the parsed JSON object (None when
    the body was not a JSON object); `time` is the provider's clock at arrival.
    """

    index: int
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: JSONObject | None
    time: float


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    """What the server sent back for one request, recorded before it was sent.

    `usage` is the usage a correct client holds after reading everything the server sent
    (for an Anthropic stream: `message_start`'s usage with `message_delta`'s counts
    replacing it; for OpenAI streams: the usage chunk or `response.completed`), or None
    when nothing carrying usage was sent (an error, a Chat stream without
    `include_usage`, a stream broken before its usage). `billed_usage` is what the call
    cost, in the same API shape, whatever reached the client. `cache` is the simulated
    cache split. `events_sent` counts the stream events written (None for JSON);
    `broken` says the connection was cut mid-stream; `error` is the error body or event.
    `provider` is who answered, as `gen_ai.provider.name` names it (`anthropic`,
    `openai`, `deepseek`, `x_ai`, `gcp.gemini`, `gcp.vertex_ai`, `aws.bedrock`, ...).
    For Gemini and Bedrock `usage` is the API's camelCase usage (`usageMetadata`,
    Converse `usage`), for a Gemini stream the last chunk's (its counts are running
    totals).
    """

    index: int
    api: ApiName
    status: int
    stream: bool
    response_id: str | None = None
    model: str | None = None
    usage: JSONObject | None = None
    billed_usage: JSONObject | None = None
    cache: CacheOutcome | None = None
    events_sent: int | None = None
    broken: bool = False
    error: JSONObject | None = None
    provider: str = "unknown"
