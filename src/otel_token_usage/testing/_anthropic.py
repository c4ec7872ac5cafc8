"""The Anthropic Messages API as the fake provider speaks it: bodies, stream events, errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._cache import CacheOutcome
from ._reply import Reply, text_pieces
from ._wire import JSONObject, SseEvent, sse

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def thinking_request(body: Mapping[str, Any]) -> tuple[bool, int | None, bool]:
    """Whether the request enables thinking, its budget, and whether thinking is shown."""
    config = body.get("thinking")
    if not isinstance(config, Mapping) or config.get("type") not in ("enabled", "adaptive"):
        return False, None, True
    budget = config.get("budget_tokens")
    shown = config.get("display") != "omitted"
    return True, budget if isinstance(budget, int) else None, shown


def usage(outcome: CacheOutcome, reply: Reply) -> JSONObject:
    """The `usage` of a finished message: input exclusive of the cache counts."""
    return {
        "input_tokens": outcome.uncached,
        "cache_creation_input_tokens": outcome.write,
        "cache_read_input_tokens": outcome.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": outcome.write_5m,
            "ephemeral_1h_input_tokens": outcome.write_1h,
        },
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"thinking_tokens": reply.thinking_tokens},
        "service_tier": "standard",
    }


def _content(reply: Reply) -> list[JSONObject]:
    blocks: list[JSONObject] = []
    if reply.thinking_tokens:
        blocks.append(
            {"type": "thinking", "thinking": reply.thinking, "signature": reply.signature}
        )
    blocks.append({"type": "text", "text": reply.text})
    return blocks


def _stop_reason(reply: Reply) -> str:
    return "max_tokens" if reply.truncated else "end_turn"


def message(message_id: str, model: str, reply: Reply, full_usage: JSONObject) -> JSONObject:
    """The JSON body of a non-streaming `POST /v1/messages`."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(reply),
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": full_usage,
    }


def events(message_id: str, model: str, reply: Reply, full_usage: JSONObject) -> list[SseEvent]:
    """The events of a streamed message, in the real API's order.

    message_start (input usage, output_tokens 1), ping, per content block start / deltas /
    stop, message_delta (cumulative usage), message_stop.
    """
    start_usage = {
        key: value
        for key, value in full_usage.items()
        if key not in ("output_tokens", "output_tokens_details")
    }
    start_usage["output_tokens"] = min(1, reply.output_tokens)
    out: list[SseEvent] = [
        sse(
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
            "message_start",
            usage=dict(start_usage),
        ),
        sse({"type": "ping"}, "ping"),
    ]
    for index, block in enumerate(_content(reply)):
        out.extend(_block_events(index, block))
    delta_usage = {
        "input_tokens": full_usage["input_tokens"],
        "cache_creation_input_tokens": full_usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": full_usage["cache_read_input_tokens"],
        "output_tokens": full_usage["output_tokens"],
        "output_tokens_details": full_usage["output_tokens_details"],
    }
    out.append(
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                "usage": delta_usage,
            },
            "message_delta",
            usage={**start_usage, **delta_usage},
        )
    )
    out.append(sse({"type": "message_stop"}, "message_stop"))
    return out


def _block_events(index: int, block: JSONObject) -> list[SseEvent]:
    out: list[SseEvent] = []
    if block["type"] == "thinking":
        out.append(_start(index, {"type": "thinking", "thinking": "", "signature": ""}))
        out.extend(
            _delta(index, {"type": "thinking_delta", "thinking": piece})
            for piece in text_pieces(block["thinking"])
        )
        out.append(_delta(index, {"type": "signature_delta", "signature": block["signature"]}))
    else:
        out.append(_start(index, {"type": "text", "text": ""}))
        out.extend(
            _delta(index, {"type": "text_delta", "text": piece})
            for piece in text_pieces(block["text"])
        )
    out.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    return out


def _start(index: int, block: JSONObject) -> SseEvent:
    return sse(
        {"type": "content_block_start", "index": index, "content_block": block},
        "content_block_start",
    )


def _delta(index: int, delta: JSONObject) -> SseEvent:
    return sse(
        {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
    )


def count_tokens_body(input_tokens: int) -> JSONObject:
    """The JSON body of `POST /v1/messages/count_tokens`."""
    return {"input_tokens": input_tokens}


def error_body(status: int, error_type: str | None, message: str, request_id: str) -> JSONObject:
    """An Anthropic error envelope for an HTTP error response."""
    kind = error_type or ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def stream_error(error_type: str, message: str) -> SseEvent:
    """An `error` event, as the API sends when a stream fails after it started."""
    return sse({"type": "error", "error": {"type": error_type, "message": message}}, "error")
