"""AWS Bedrock Runtime `Converse` and `ConverseStream` as the fake provider speaks them to
`boto3`: JSON bodies, the binary `application/vnd.amazon.eventstream`, usage, errors.

Caching follows Bedrock's cache points: a `{"cachePoint": {"type": "default", "ttl":
"5m" | "1h"}}` entry (in `toolConfig.tools`, `system` or a message's content) marks the
end of a cached prefix, with Anthropic's rules (5-minute default TTL, at most 4, no 1h
after a 5m). `usage.inputTokens` is the uncached input; `cacheReadInputTokens` /
`cacheWriteInputTokens` and `cacheDetails` (1h listed before 5m) appear when the request
has a cache point. Thinking (`additionalModelRequestFields.thinking`, Anthropic-style)
is billed inside `outputTokens`, as Bedrock reports no reasoning count.
"""

from __future__ import annotations

import binascii
import dataclasses
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._cache import CacheOutcome
from ._reply import Reply, text_pieces
from ._tokens import BadRequest, Block, TtlLabel, block_of, check_breakpoints
from ._wire import JSONObject, SseEvent, json_bytes

if TYPE_CHECKING:
    from ._engine import Engine
    from ._plan import Plan
    from ._records import RecordedResponse
    from ._routes import Route

__all__ = ["EVENT_STREAM", "encode_event", "error_body", "request_id", "respond"]

EVENT_STREAM = (("content-type", "application/vnd.amazon.eventstream"),)

_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def request_id(index: int) -> str:
    """The `x-amzn-RequestId` of the request at `index` (UUID-shaped, deterministic)."""
    return f"00000000-0000-4000-8000-{index + 1:012d}"


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # Header: name length, name, type 7 (string), value length, value.
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + b"\x07"
        + struct.pack("!H", len(raw_value))
        + raw_value
    )


def encode_event(kind: str, payload: JSONObject, message_type: str = "event") -> bytes:
    """One event-stream message: prelude (total and header lengths, CRC), headers, JSON
    payload, message CRC. `message_type` `exception` makes `kind` an exception type."""
    type_header = ":exception-type" if message_type == "exception" else ":event-type"
    headers = (
        _header(type_header, kind)
        + _header(":content-type", "application/json")
        + _header(":message-type", message_type)
    )
    body = json_bytes(payload)
    prelude = struct.pack("!II", 12 + len(headers) + len(body) + 4, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def _event(kind: str, payload: JSONObject, usage: JSONObject | None = None) -> SseEvent:
    return SseEvent(encode_event(kind, payload), usage)


def blocks(body: Mapping[str, Any]) -> tuple[list[Block], bool]:
    """The prompt as blocks (tools, system, each message content block), each cache point
    setting the TTL of the block before it; and whether the request has a cache point."""
    out: list[Block] = []
    marked = False

    def add(kind: str, items: object) -> None:
        nonlocal marked
        if items is None:
            return
        if not isinstance(items, list):
            raise BadRequest(f"{kind}: expected a list")
        for position, item in enumerate(items):
            point = item.get("cachePoint") if isinstance(item, Mapping) else None
            if point is None:
                part = f"{kind}:{'first' if position == 0 else 'next'}"
                out.append(block_of(part, item, cacheable=False))
                continue
            if not out or not isinstance(point, Mapping) or point.get("type") != "default":
                raise BadRequest("cachePoint: expected {'type': 'default'} after some content")
            out[-1] = dataclasses.replace(out[-1], ttl=_ttl(point.get("ttl", "5m")))
            marked = True

    tool_config = body.get("toolConfig")
    add("tool", tool_config.get("tools") if isinstance(tool_config, Mapping) else None)
    add("system", body.get("system"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("1 validation error detected: messages must not be empty")
    for message in messages:
        if not isinstance(message, Mapping):
            raise BadRequest("messages: each message must be an object")
        add(f"message:{message.get('role')}", message.get("content"))
    check_breakpoints(out)
    return out, marked


def _ttl(value: object) -> TtlLabel:
    if value == "5m":
        return "5m"
    if value == "1h":
        return "1h"
    raise BadRequest(f"cachePoint.ttl: expected '5m' or '1h', got {value!r}")


def usage(outcome: CacheOutcome, reply: Reply, *, cached: bool) -> JSONObject:
    """Converse `usage`: fresh input apart from the cache counts (these only when the
    request has a cache point), output with any thinking in it."""
    prompt = outcome.uncached + outcome.read + outcome.write
    out: JSONObject = {
        "inputTokens": outcome.uncached,
        "outputTokens": reply.output_tokens,
        "totalTokens": prompt + reply.output_tokens,
    }
    if cached:
        out["cacheReadInputTokens"] = outcome.read
        out["cacheWriteInputTokens"] = outcome.write
        details = [
            {"ttl": ttl, "inputTokens": tokens}
            for ttl, tokens in (("1h", outcome.write_1h), ("5m", outcome.write_5m))
            if tokens
        ]
        if details:
            out["cacheDetails"] = details
    return out


def _thinking(body: Mapping[str, Any]) -> tuple[bool, int | None]:
    fields = body.get("additionalModelRequestFields")
    config = fields.get("thinking") if isinstance(fields, Mapping) else None
    if not isinstance(config, Mapping) or config.get("type") != "enabled":
        return False, None
    budget = config.get("budget_tokens")
    return True, budget if isinstance(budget, int) else None


def _content(reply: Reply) -> list[JSONObject]:
    content: list[JSONObject] = []
    if reply.thinking:
        text = {"text": reply.thinking, "signature": reply.signature}
        content.append({"reasoningContent": {"reasoningText": text}})
    content.append({"text": reply.text})
    return content


def respond(
    engine: Engine, index: int, route: Route, body: JSONObject, now: float
) -> tuple[Plan, RecordedResponse]:
    """Answer one `Converse` / `ConverseStream` request."""
    model = route.model or ""
    prompt, cached = blocks(body)
    thinking, budget = _thinking(body)
    config = body.get("inferenceConfig")
    cap = config.get("maxTokens") if isinstance(config, Mapping) else None
    outcome = engine.bedrock_cache.process(model, prompt, now)
    reply = engine.reply_for(
        thinking=thinking, budget=budget, max_tokens=cap if isinstance(cap, int) else None
    )
    billed = usage(outcome, reply, cached=cached)
    stop = "max_tokens" if reply.truncated else "end_turn"
    rid = request_id(index)
    if not route.stream:
        answer = {
            "output": {"message": {"role": "assistant", "content": _content(reply)}},
            "stopReason": stop,
            "usage": billed,
            "metrics": {"latencyMs": 100},
        }
        return engine.json_response(
            index, route, answer, response_id=rid, model=model, usage=billed, cache=outcome
        )
    return engine.stream_response(
        index,
        route,
        _events(reply, stop, billed),
        lambda kind, _seq: _exception(kind, "Injected stream error"),
        response_id=rid,
        model=model,
        billed=billed,
        cache=outcome,
        content_type=EVENT_STREAM,
    )


def _events(reply: Reply, stop: str, billed: JSONObject) -> list[SseEvent]:
    """messageStart, per content block its deltas and stop, messageStop, and last the
    metadata event: the only one with usage."""
    out = [_event("messageStart", {"role": "assistant"})]
    index = 0
    if reply.thinking:
        for delta in ({"text": reply.thinking}, {"signature": reply.signature}):
            payload = {"contentBlockIndex": index, "delta": {"reasoningContent": delta}}
            out.append(_event("contentBlockDelta", payload))
        out.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    for piece in text_pieces(reply.text):
        payload = {"contentBlockIndex": index, "delta": {"text": piece}}
        out.append(_event("contentBlockDelta", payload))
    out.append(_event("contentBlockStop", {"contentBlockIndex": index}))
    out.append(_event("messageStop", {"stopReason": stop}))
    metadata = {"usage": billed, "metrics": {"latencyMs": 100}}
    out.append(_event("metadata", metadata, usage=billed))
    return out


def _exception(kind: str, message: str) -> SseEvent:
    """An exception message mid-stream (`throttlingException`, ...): boto3 raises
    `EventStreamError` on it."""
    body = {"message": message}
    return SseEvent(encode_event(kind, body, "exception"), error={"type": kind, **body})


def error_body(status: int, error_type: str | None, message: str) -> tuple[JSONObject, str]:
    """The JSON body of an HTTP error and its `x-amzn-ErrorType` code."""
    code = error_type or _ERRORS.get(status, "InternalServerException")
    return {"message": message}, code
