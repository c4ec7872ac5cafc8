"""`FakeProvider`: the public face of the fake provider server (Anthropic, OpenAI and the
OpenAI-compatible providers, Gemini / Vertex AI, Bedrock Converse)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self

from ._clock import Clock
from ._engine import Engine, Failure, StreamBreak
from ._records import RecordedRequest, RecordedResponse
from ._reply import DEFAULT_REPLY, DEFAULT_THINKING_TOKENS
from ._server import FakeHTTPServer

_POLL_INTERVAL = 0.01
"""How often the serving loop checks for shutdown: bounds how long `stop()` takes."""


class FakeProvider:
    """A local HTTP server that speaks enough of each provider's API for its real SDK.

    On 127.0.0.1 at a free port, as JSON or as the API's stream:

    - Anthropic `POST /v1/messages` (and `/count_tokens`):
      `anthropic.Anthropic(base_url=fake.base_url, api_key="test")`.
    - OpenAI `POST /v1/chat/completions` and `/v1/responses`:
      `openai.OpenAI(base_url=fake.openai_base_url, api_key="test")`.
    - The OpenAI-compatible providers through their own host, with the fake as the
      client's HTTP proxy: `openai.OpenAI(base_url="http://api.deepseek.com",
      http_client=openai.DefaultHttpxClient(proxy=fake.proxy_url), ...)`. Answers for
      `api.deepseek.com` and `api.x.ai` have DeepSeek's and xAI's usage shapes (see
      `_compatible`); Groq, Mistral and Azure OpenAI hosts answer in OpenAI's.
    - Gemini `generateContent` / `streamGenerateContent` (the Gemini API, and Vertex AI
      paths): `genai.Client(api_key="test", http_options=types.HttpOptions(
      base_url=fake.base_url))`; for Vertex AI add `vertexai=True, project=...,
      location=..., credentials=google.oauth2.credentials.Credentials(token="test")`.
    - Bedrock `Converse` / `ConverseStream` (binary event stream):
      `boto3.client("bedrock-runtime", endpoint_url=fake.base_url, region_name=...,
      aws_access_key_id="test", aws_secret_access_key="test")`. Always give these
      explicit credentials, so the SDKs never look for real ones.

    Guarantees:

    - Token counts are deterministic (see `count_tokens`): same request, same counts.
    - Prompt caching follows the provider's rules on `clock` (Anthropic: `cache_control`
      breakpoints with 5m/1h TTLs, reads refresh TTLs, 20-block lookback; OpenAI and its
      compatible providers: automatic caching of the longest recent prefix at message
      boundaries, lifetime `openai_cache_ttl` seconds, or 24 h with
      `prompt_cache_retention="24h"`; Gemini: implicit caching the same way at content
      boundaries, lifetime `gemini_cache_ttl`; Bedrock: `cachePoint` blocks with
      Anthropic's rules). Prefixes under `min_cacheable_tokens` are never cached.
    - Output is `reply` (cut to `max_tokens`), plus `thinking_tokens` of thinking when the
      request enables it (Anthropic `thinking`, OpenAI `reasoning_effort` / `reasoning`,
      Gemini `thinkingConfig`, Bedrock `additionalModelRequestFields.thinking`; DeepSeek
      `deepseek-reasoner` and xAI `grok-4*` always), billed as output and reported as
      each API reports it (Bedrock does not).
    - Every request and the response sent for it are recorded (`requests`, `responses`,
      same index) before the response is written, so a test can read them as soon as
      its SDK call returns.
    - Thread-safe: requests are served concurrently, state changes under one lock.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        reply: str = DEFAULT_REPLY,
        thinking_tokens: int = DEFAULT_THINKING_TOKENS,
        min_cacheable_tokens: int = 1,
        openai_cache_ttl: float = 300.0,
        gemini_cache_ttl: float = 300.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._clock: Clock = clock if clock is not None else time.monotonic
        self._engine = Engine(
            self._clock,
            reply=reply,
            thinking_tokens=thinking_tokens,
            min_cacheable_tokens=min_cacheable_tokens,
            openai_cache_ttl=openai_cache_ttl,
            gemini_cache_ttl=gemini_cache_ttl,
        )
        self._host = host
        self._port = port
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Bind and serve in a background thread. Returns self; idempotent."""
        if self._server is None:
            server = FakeHTTPServer(self._engine, self._host, self._port)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name=f"fake-provider-{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and drop open connections. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # addresses

    @property
    def port(self) -> int:
        """The bound TCP port (the server must be started)."""
        if self._server is None:
            raise RuntimeError("the fake provider is not running; use start() or `with`")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The server root, e.g. `http://127.0.0.1:PORT`: the Anthropic SDK's `base_url`."""
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """`base_url` + `/v1`: the OpenAI SDK's `base_url`."""
        return f"{self.base_url}/v1"

    @property
    def proxy_url(self) -> str:
        """The server as an HTTP proxy (`base_url` again): a client whose `base_url` is a
        provider's `http://` host and whose proxy is this gets that provider's answers."""
        return self.base_url

    # observation

    @property
    def clock(self) -> Clock:
        """The clock the cache simulation runs on."""
        return self._clock

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a snapshot)."""
        with self._engine.lock:
            return list(self._engine.requests)

    @property
    def responses(self) -> list[RecordedResponse]:
        """The response sent for each request, same order and index (a snapshot)."""
        with self._engine.lock:
            return list(self._engine.responses)

    def clear_records(self) -> None:
        """Forget recorded requests and responses (indices restart at 0)."""
        with self._engine.lock:
            self._engine.requests.clear()
            self._engine.responses.clear()

    def clear_cache(self) -> None:
        """Empty every simulated prompt cache."""
        with self._engine.lock:
            for cache in self._engine.caches():
                cache.clear()

    # output and cache settings

    @property
    def reply(self) -> str:
        """The text every call answers (one output token per word)."""
        return self._engine.reply

    @reply.setter
    def reply(self, text: str) -> None:
        with self._engine.lock:
            self._engine.reply = text

    @property
    def thinking_tokens(self) -> int:
        """Thinking/reasoning tokens produced when a request enables thinking."""
        return self._engine.thinking_tokens

    @thinking_tokens.setter
    def thinking_tokens(self, tokens: int) -> None:
        if tokens < 0:
            raise ValueError("thinking_tokens must be >= 0")
        with self._engine.lock:
            self._engine.thinking_tokens = tokens

    @property
    def min_cacheable_tokens(self) -> int:
        """The shortest prefix (in tokens) any cache will store or read."""
        return self._engine.anthropic_cache.min_tokens

    @min_cacheable_tokens.setter
    def min_cacheable_tokens(self, tokens: int) -> None:
        with self._engine.lock:
            for cache in self._engine.caches():
                cache.min_tokens = tokens

    @property
    def openai_cache_ttl(self) -> float:
        """Seconds an OpenAI prefix stays cached after its last use."""
        return self._engine.openai_cache_ttl

    @openai_cache_ttl.setter
    def openai_cache_ttl(self, seconds: float) -> None:
        with self._engine.lock:
            self._engine.openai_cache_ttl = seconds

    # fault injection

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int | None = None,
        error_type: str | None = None,
        message: str | None = None,
        retry_after: float | None = 0.001,
    ) -> None:
        """Make the next `count` API requests fail with HTTP `status` and an API-shaped error.

        `status` defaults to 529 (`overloaded_error`) on Anthropic routes and 503 on the
        others (OpenAI `server_error`, Gemini `UNAVAILABLE`, Bedrock
        `ServiceUnavailableException`); the error `type` (Bedrock: the `x-amzn-ErrorType`
        code) defaults to the provider's for the status. The SDKs retry 408/409/429/5xx
        themselves (google-genai only when given retry options): a failed request counts
        whether it is a first try or a retry. `retry_after` (seconds, sent as
        `retry-after-ms`) keeps those retries fast; None sends no such header.
        """
        failure = Failure(status, error_type, message, retry_after)
        with self._engine.lock:
            self._engine.failures.extend([failure] * count)

    def break_stream_after(self, events: int, *, count: int = 1, error: str | None = None) -> None:
        """Make the next `count` streamed responses fail after `events` events.

        Without `error` the connection is closed mid-body (no terminating chunk), which
        the SDKs report as a broken connection. With `error` (an error type such as
        `"overloaded_error"`) the stream instead carries the provider's in-stream error
        (Anthropic `event: error`, a Chat chunk with `error`, a Responses `error` event)
        and ends cleanly. A stream with no more than `events` events is unaffected but
        still uses up the injection. Events count as written on the wire, including those
        the SDKs skip: Anthropic sends `message_start`, `ping`, then per content block
        `content_block_start` / deltas / `content_block_stop`, then `message_delta`,
        `message_stop`; Chat ends with `data: [DONE]`. Gemini's in-stream error is an
        `{"error": ...}` chunk; Bedrock's an exception message whose type is `error`
        (e.g. `"throttlingException"`), after which boto3 raises `EventStreamError`.
        """
        if events < 0:
            raise ValueError("events must be >= 0")
        injected = StreamBreak(events, error)
        with self._engine.lock:
            self._engine.breaks.extend([injected] * count)

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"FakeProvider({where})"
