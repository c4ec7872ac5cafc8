"""The fake provider's brain: turns a request into a response plan and records both.

Everything here runs under one lock, so concurrent requests see a consistent cache,
counters and fault queues; the HTTP layer only writes the plan out.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from . import _anthropic as anthropic
from . import _bedrock as bedrock
from . import _compatible as compatible
from . import _gemini as gemini
from . import _openai as openai
from ._cache import AnthropicPromptCache, CacheOutcome, OpenAIPromptCache
from ._clock import Clock
from ._plan import Failure, Plan, StreamBreak
from ._records import RecordedRequest, RecordedResponse
from ._reply import Reply, plan_reply
from ._routes import Route, resolve
from ._tokens import BadRequest, Block, anthropic_blocks, chat_blocks, responses_blocks
from ._wire import JSONObject, SseEvent, json_bytes

__all__ = ["Engine", "Failure", "Plan", "StreamBreak"]

OPENAI_EXTENDED_RETENTION = 24 * 3600.0
"""Cache lifetime when a request asks for `prompt_cache_retention="24h"`."""

_SSE_HEADERS = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))


def _event_data(event: SseEvent) -> JSONObject:
    if event.error is not None:
        return event.error
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
        gemini_cache_ttl: float = 300.0,
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.reply = reply
        self.thinking_tokens = thinking_tokens
        self.openai_cache_ttl = openai_cache_ttl
        self.gemini_cache_ttl = gemini_cache_ttl
        self.anthropic_cache = AnthropicPromptCache(min_cacheable_tokens)
        self.openai_cache = OpenAIPromptCache(min_cacheable_tokens)
        # Gemini's implicit caching is automatic at content boundaries, as OpenAI's is;
        # Bedrock's cache points follow Anthropic's breakpoint rules.
        self.gemini_cache = OpenAIPromptCache(min_cacheable_tokens)
        self.bedrock_cache = AnthropicPromptCache(min_cacheable_tokens)
        self.requests: list[RecordedRequest] = []
        self.responses: list[RecordedResponse] = []
        self.failures: deque[Failure] = deque()
        self.breaks: deque[StreamBreak] = deque()

    def caches(self) -> tuple[AnthropicPromptCache | OpenAIPromptCache, ...]:
        """Every simulated prompt cache."""
        return (self.anthropic_cache, self.openai_cache, self.gemini_cache, self.bedrock_cache)

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Plan:
        """Plan the response to one request, recording the request and the response.

        `target` is the request line's target: a path (`/v1/messages`), or a whole URL
        when the fake is used as a proxy (see `_routes`)."""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
        lowered = {name.lower(): value for name, value in headers.items()}
        route = resolve(method, target, lowered)
        with self.lock:
            index = len(self.requests)
            now = self.clock()
            self.requests.append(
                RecordedRequest(index, method, route.path, route.query, lowered, body, now)
            )
            plan, record = self._respond(index, route, body, now)
            self.responses.append(record)
            return plan

    def _respond(
        self, index: int, route: Route, body: JSONObject | None, now: float
    ) -> tuple[Plan, RecordedResponse]:
        api = route.api
        if api == "unknown":
            return self.error(index, route, 404, "Not found")
        if self.failures:
            failure = self.failures.popleft()
            default = 529 if api.startswith("anthropic") else 503
            status = failure.status or default
            message = failure.message or f"Injected {status} error from the fake provider"
            return self.error(
                index,
                route,
                status,
                message,
                error_type=failure.error_type,
                retry_after=failure.retry_after,
            )
        if body is None:
            return self.error(index, route, 400, "The request body is not a JSON object")
        try:
            if api == "anthropic.messages":
                return self._messages(index, route, body, now)
            if api == "anthropic.count_tokens":
                tokens = sum(block.tokens for block in anthropic_blocks(body))
                return self.json_response(index, route, anthropic.count_tokens_body(tokens))
            if api == "openai.chat":
                return self._chat(index, route, body, now)
            if api == "gemini.generate_content":
                return gemini.respond(self, index, route, body, now)
            if api == "bedrock.converse":
                return bedrock.respond(self, index, route, body, now)
            return self._responses(index, route, body, now)
        except BadRequest as err:
            return self.error(index, route, 400, str(err))

    def reply_for(
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

    def _messages(
        self, index: int, route: Route, body: JSONObject, now: float
    ) -> tuple[Plan, RecordedResponse]:
        model = body.get("model")
        max_tokens = body.get("max_tokens")
        if not isinstance(model, str):
            raise BadRequest("model: Field required")
        if not isinstance(max_tokens, int):
            raise BadRequest("max_tokens: Field required")
        blocks = anthropic_blocks(body)
        thinking, budget, shown = anthropic.thinking_request(body)
        outcome = self.anthropic_cache.process(model, blocks, now)
        reply = self.reply_for(thinking=thinking, budget=budget, max_tokens=max_tokens, shown=shown)
        message_id = f"msg_fake{index + 1:016d}"
        usage = anthropic.usage(outcome, reply)
        if body.get("stream") is True:
            events = anthropic.events(message_id, model, reply, usage)
            return self.stream_response(
                index,
                route,
                events,
                lambda kind, _seq: anthropic.stream_error(kind, "Injected stream error"),
                response_id=message_id,
                model=model,
                billed=usage,
                cache=outcome,
            )
        return self.json_response(
            index,
            route,
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

    def _chat(
        self, index: int, route: Route, body: JSONObject, now: float
    ) -> tuple[Plan, RecordedResponse]:
        model = body.get("model")
        if not isinstance(model, str):
            raise BadRequest("Missing required parameter: 'model'.")
        blocks = chat_blocks(body)
        provider = route.provider
        cap = openai.chat_settings(body)[1]
        thinking = compatible.reasons(provider, model, body)
        outcome = self._openai_outcome(model, body, blocks, now)
        reply = self.reply_for(thinking=thinking, max_tokens=cap, shown=provider == "deepseek")
        completion_id = f"chatcmpl-fake{index + 1:016d}"
        usage = compatible.chat_usage(provider, outcome, reply)
        created = int(now)
        if body.get("stream") is True:
            options = body.get("stream_options")
            include = isinstance(options, Mapping) and options.get("include_usage") is True
            events = openai.chat_chunks(
                completion_id, model, created, reply, usage, include_usage=include
            )
            compatible.with_reasoning(provider, reply, None, events)
            return self.stream_response(
                index,
                route,
                events,
                lambda kind, _seq: openai.chat_stream_error(kind, "Injected stream error"),
                response_id=completion_id,
                model=model,
                billed=usage,
                cache=outcome,
            )
        completion = openai.chat_completion(completion_id, model, created, reply, usage)
        compatible.with_reasoning(provider, reply, completion, None)
        return self.json_response(
            index,
            route,
            completion,
            response_id=completion_id,
            model=model,
            usage=usage,
            cache=outcome,
        )

    def _responses(
        self, index: int, route: Route, body: JSONObject, now: float
    ) -> tuple[Plan, RecordedResponse]:
        model = body.get("model")
        if not isinstance(model, str):
            raise BadRequest("Missing required parameter: 'model'.")
        blocks = responses_blocks(body)
        reasons, cap = openai.responses_settings(body)
        outcome = self._openai_outcome(model, body, blocks, now)
        reply = self.reply_for(thinking=reasons, max_tokens=cap, shown=False)
        response_id = f"resp_fake{index + 1:016d}"
        usage = openai.responses_usage(outcome, reply)
        if body.get("stream") is True:
            events = openai.responses_events(
                response_id, model, now, reply=reply, body=body, usage=usage
            )
            return self.stream_response(
                index,
                route,
                events,
                lambda kind, seq: openai.responses_stream_error(kind, "Injected stream error", seq),
                response_id=response_id,
                model=model,
                billed=usage,
                cache=outcome,
            )
        return self.json_response(
            index,
            route,
            openai.response(response_id, model, now, reply=reply, body=body, usage=usage),
            response_id=response_id,
            model=model,
            usage=usage,
            cache=outcome,
        )

    @staticmethod
    def _request_id_header(route: Route, index: int) -> tuple[str, str]:
        if route.api == "bedrock.converse":
            return "x-amzn-requestid", bedrock.request_id(index)
        name = "x-request-id" if route.api.startswith("openai") else "request-id"
        return name, f"req_fake{index + 1:016d}"

    def json_response(
        self,
        index: int,
        route: Route,
        body: JSONObject,
        *,
        response_id: str | None = None,
        model: str | None = None,
        usage: JSONObject | None = None,
        cache: CacheOutcome | None = None,
    ) -> tuple[Plan, RecordedResponse]:
        """A 200 JSON answer, recorded."""
        headers = (("content-type", "application/json"), self._request_id_header(route, index))
        record = RecordedResponse(
            index,
            route.api,
            200,
            False,
            response_id,
            model,
            usage,
            usage,
            cache,
            provider=route.provider,
        )
        return Plan(200, headers, json_bytes(body)), record

    def stream_response(
        self,
        index: int,
        route: Route,
        events: list[SseEvent],
        error_event: Callable[[str, int], SseEvent],
        *,
        response_id: str,
        model: str,
        billed: JSONObject,
        cache: CacheOutcome,
        content_type: tuple[tuple[str, str], ...] = _SSE_HEADERS,
    ) -> tuple[Plan, RecordedResponse]:
        """A 200 stream of `events` (cut or ended by an error event when a `StreamBreak`
        is queued), recorded with the usage a correct reader holds at its end."""
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
        headers = (*content_type, self._request_id_header(route, index))
        record = RecordedResponse(
            index,
            route.api,
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
            provider=route.provider,
        )
        return Plan(200, headers, events=tuple(sent), cut_after=cut), record

    def error(
        self,
        index: int,
        route: Route,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> tuple[Plan, RecordedResponse]:
        """An HTTP error in the API's own error shape, recorded."""
        request_id = self._request_id_header(route, index)
        headers = [("content-type", "application/json"), request_id]
        api = route.api
        if api.startswith("openai"):
            body = openai.error_body(status, error_type, message)
        elif api == "gemini.generate_content":
            body = gemini.error_body(status, message)
        elif api == "bedrock.converse":
            body, code = bedrock.error_body(status, error_type, message)
            headers.append(("x-amzn-errortype", code))
        else:
            body = anthropic.error_body(status, error_type, message, request_id[1])
        if retry_after is not None:
            headers.append(("retry-after-ms", f"{retry_after * 1000:g}"))
        record = RecordedResponse(index, api, status, False, error=body, provider=route.provider)
        return Plan(status, tuple(headers), json_bytes(body)), record
