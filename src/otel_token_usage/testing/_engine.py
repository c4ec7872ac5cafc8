"""The fake provider's brain: turns a request into a response plan and records both.

Everything here runs under one lock, so concurrent requests see a consistent cache,
counters and fault queues; the HTTP layer only writes the plan out.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import _anthropic as anthropic
from . import _openai as openai
from ._cache import AnthropicPromptCache, CacheOutcome, OpenAIPromptCache
from ._clock import Clock
from ._records import ApiName, RecordedRequest, RecordedResponse
from ._reply import Reply, plan_reply
from ._tokens import BadRequest, Block, anthropic_blocks, chat_blocks, responses_blocks
from ._wire import JSONObject, SseEvent, json_bytes

_ROUTES: dict[tuple[str, str], ApiName] = {
    ("POST", "/v1/messages"): "anthropic.messages",
    ("POST", "/v1/messages/count_tokens"): "anthropic.count_tokens",
    ("POST", "/v1/chat/completions"): "openai.chat",
    ("POST", "/v1/responses"): "openai.responses",
}

OPENAI_EXTENDED_RETENTION = 24 * 3600.0
"""Cache lifetime when a request asks for `prompt_cache_retention="24h"`."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What to write back: a status, headers, and a JSON body or stream events.

    `cut_after` closes the connection after that many events, without ending the body.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    events: tuple[SseEvent, ...] | None = None
    cut_after: int | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """An injected HTTP error for one request."""

    status: int | None
    error_type: str | None
    message: str | None
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class StreamBreak:
    """An injected stream failure: cut the connection, or send an error event, after N events."""

    after: int
    error: str | None


def _event_data(event: SseEvent) -> JSONObject:
    line = event.payload.decode().split("data: ", 1)[1]
    data: JSONObject = json.loads(line)
    return data


class Engine:
    """Request handling state of one fake provider (see `FakeProvider` for the rules)."""

    def __init__(
        self,
        clock: Clock,
        *,
        reply: str,
        thinking_tokens: int,
        min_cacheable_tokens: int,
        openai_cache_ttl: float,
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.reply = reply
        self.thinking_tokens = thinking_tokens
        self.openai_cache_ttl = openai_cache_ttl
        self.anthropic_cache = AnthropicPromptCache(min_cacheable_tokens)
        self.openai_cache = OpenAIPromptCache(min_cacheable_tokens)
        self.requests: list[RecordedRequest] = []
        self.responses: list[RecordedResponse] = []
        self.failures: deque[Failure] = deque()
        self.breaks: deque[StreamBreak] = deque()

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Plan:
        """Plan the response to one request, recording the request and the response."""
        path, _, query = target.partition("?")
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
        with self.lock:
            index = len(self.requests)
            now = self.clock()
            lowered = {name.lower(): value for name, value in headers.items()}
            self.requests.append(RecordedRequest(index, method, path, query, lowered, body, now))
            api = _ROUTES.get((method, path), "unknown")
            plan, record = self._respond(index, api, body, now)
            self.responses.append(record)
            return plan

    def _respond(
        self, index: int, api: ApiName, body: JSONObject | None, now: float
    ) -> tuple[Plan, RecordedResponse]:
        if api == "unknown":
            return self._error(index, api, 404, "Not found")
        if self.failures:
            failure = self.failures.popleft()
            default = 529 if api.startswith("anthropic") else 503
            status = failure.status or default
            message = failure.message or f"Injected {status} error from the fake provider"
            return self._error(
                index,
                api,
                status,
                message,
                error_type=failure.error_type,
                retry_after=failure.retry_after,
            )
        if body is None:
            return self._error(index, api, 400, "The request body is not a JSON object")
        try:
            if api == "anthropic.messages":
                return self._messages(index, body, now)
            if api == "anthropic.count_tokens":
                tokens = sum(block.tokens for block in anthropic_blocks(body))
                return self._json(index, api, anthropic.count_tokens_body(tokens))
            if api == "openai.chat":
                return self._chat(index, body, now)
            return self._responses(index, body, now)
        except BadRequest as err:
            return self._error(index, api, 400, str(err))

    def _reply(
        self,
        *,
        thinking: bool,
        budget: int | None = None,
        max_tokens: int | None = None,
        shown: bool = True,
    ) -> Reply:
        return plan_reply(
            self.reply,
            self.thinking_tokens,
            thinking=thinking,
            thinking_budget=budget,
            max_tokens=max_tokens,
            show_thinking=shown,
        )

    def _messages(self, index: int, body: JSONObject, now: float) -> tuple[Plan, RecordedResponse]:
        model = body.get("model")
        max_tokens = body.get("max_tokens")
        if not isinstance(model, str):
            raise BadRequest("model: Field required")
        if not isinstance(max_tokens, int):
            raise BadRequest("max_tokens: Field required")
        blocks = anthropic_blocks(body)
        thinking, budget, shown = anthropic.thinking_request(body)
        outcome = self.anthropic_cache.process(model, blocks, now)
        reply = self._reply(thinking=thinking, budget=budget, max_tokens=max_tokens, shown=shown)
        message_id = f"msg_fake{index + 1:016d}"
        usage = anthropic.usage(outcome, reply)
        if body.get("stream") is True:
            events = anthropic.events(message_id, model, reply, usage)
            return self._stream(
                index,
                "anthropic.messages",
                events,
                lambda kind, _seq: anthropic.stream_error(kind, "Injected stream error"),
                response_id=message_id,
                model=model,
                billed=usage,
                cache=outcome,
            )
        return self._json(
            index,
            "anthropic.messages",
            anthropic.message(message_id, model, reply, usage),
            response_id=message_id,
            model=model,
            usage=usage,
            cache=outcome,
        )

    def _openai_outcome(
        self, model: str, body: JSONObject, blocks: Sequence[Block], now: float
    ) -> CacheOutcome:
        retention = body.get("prompt_cache_retention")
        lifetime = OPENAI_EXTENDED_RETENTION if retention == "24h" else self.openai_cache_ttl
        return self.openai_cache.process(model, blocks, now, lifetime)

    def _chat(self, index: int, body: JSONObject, now: float) -> tuple[Plan, RecordedResponse]:
        model = body.get("model")
        if not isinstance(model, str):
            raise BadRequest("Missing required parameter: 'model'.")
        blocks = chat_blocks(body)
        reasons, cap = openai.chat_settings(body)
        outcome = self._openai_outcome(model, body, blocks, now)
        reply = self._reply(thinking=reasons, max_tokens=cap, shown=False)
        completion_id = f"chatcmpl-fake{index + 1:016d}"
        usage = openai.chat_usage(outcome, reply)
        created = int(now)
        if body.get("stream") is True:
            options = body.get("stream_options")
            include = isinstance(options, Mapping) and options.get("include_usage") is True
            events = openai.chat_chunks(
                completion_id, model, created, reply, usage, include_usage=include
            )
            return self._stream(
                index,
                "openai.chat",
                events,
                lambda kind, _seq: openai.chat_stream_error(kind, "Injected stream error"),
                response_id=completion_id,
                model=model,
                billed=usage,
                cache=outcome,
            )
        return self._json(
            index,
            "openai.chat",
            openai.chat_completion(completion_id, model, created, reply, usage),
            response_id=completion_id,
            model=model,
            usage=usage,
            cache=outcome,
        )

    def _responses(self, index: int, body: JSONObject, now: float) -> tuple[Plan, RecordedResponse]:
        model = body.get("model")
        if not isinstance(model, str):
            raise BadRequest("Missing required parameter: 'model'.")
        blocks = responses_blocks(body)
        reasons, cap = openai.responses_settings(body)
        outcome = self._openai_outcome(model, body, blocks, now)
        reply = self._reply(thinking=reasons, max_tokens=cap, shown=False)
        response_id = f"resp_fake{index + 1:016d}"
        usage = openai.responses_usage(outcome, reply)
        if body.get("stream") is True:
            events = openai.responses_events(
                response_id, model, now, reply=reply, body=body, usage=usage
            )
            return self._stream(
                index,
                "openai.responses",
                events,
                lambda kind, seq: openai.responses_stream_error(kind, "Injected stream error", seq),
                response_id=response_id,
                model=model,
                billed=usage,
                cache=outcome,
            )
        return self._json(
            index,
            "openai.responses",
            openai.response(response_id, model, now, reply=reply, body=body, usage=usage),
            response_id=response_id,
            model=model,
            usage=usage,
            cache=outcome,
        )

    @staticmethod
    def _request_id_header(api: ApiName, index: int) -> tuple[str, str]:
        name = "x-request-id" if api.startswith("openai") else "request-id"
        return name, f"req_fake{index + 1:016d}"

    def _json(
        self,
        index: int,
        api: ApiName,
        body: JSONObject,
        *,
        response_id: str | None = None,
        model: str | None = None,
        usage: JSONObject | None = None,
        cache: CacheOutcome | None = None,
    ) -> tuple[Plan, RecordedResponse]:
        headers = (("content-type", "application/json"), self._request_id_header(api, index))
        record = RecordedResponse(index, api, 200, False, response_id, model, usage, usage, cache)
        return Plan(200, headers, json_bytes(body)), record

    def _stream(
        self,
        index: int,
        api: ApiName,
        events: list[SseEvent],
        error_event: Callable[[str, int], SseEvent],
        *,
        response_id: str,
        model: str,
        billed: JSONObject,
        cache: CacheOutcome,
    ) -> tuple[Plan, RecordedResponse]:
        injected = self.breaks.popleft() if self.breaks else None
        sent = events
        cut: int | None = None
        error: JSONObject | None = None
        if injected is not None and injected.after < len(events):
            sent = events[: injected.after]
            if injected.error is None:
                cut = injected.after
            else:
                event = error_event(injected.error, len(sent))
                error = _event_data(event)
                sent = [*sent, event]
        usage = None
        for event in sent:
            if event.usage is not None:
                usage = event.usage
        headers = (
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            self._request_id_header(api, index),
        )
        record = RecordedResponse(
            index,
            api,
            200,
            True,
            response_id,
            model,
            usage,
            billed,
            cache,
            events_sent=len(sent),
            broken=cut is not None,
            error=error,
        )
        return Plan(200, headers, events=tuple(sent), cut_after=cut), record

    def _error(
        self,
        index: int,
        api: ApiName,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> tuple[Plan, RecordedResponse]:
        request_id = self._request_id_header(api, index)
        if api.startswith("openai"):
            body = openai.error_body(status, error_type, message)
        else:
            body = anthropic.error_body(status, error_type, message, request_id[1])
        headers = [("content-type", "application/json"), request_id]
        if retry_after is not None:
            headers.append(("retry-after-ms", f"{retry_after * 1000:g}"))
        record = RecordedResponse(index, api, status, False, error=body)
        return Plan(status, tuple(headers), json_bytes(body)), record
