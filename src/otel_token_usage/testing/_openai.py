"""The OpenAI Chat Completions and Responses APIs as the fake provider speaks them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._cache import CacheOutcome
from ._reply import Reply, text_pieces
from ._wire import JSONObject, SseEvent, sse

ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}

FINGERPRINT = "fp_fake"


def _max(body: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int):
            return value
    return None


def chat_settings(body: Mapping[str, Any]) -> tuple[bool, int | None]:
    """Whether a Chat Completions request reasons, and its output cap."""
    effort = body.get("reasoning_effort")
    reasons = isinstance(effort, str) and effort != "none"
    return reasons, _max(body, "max_completion_tokens", "max_tokens")


def responses_settings(body: Mapping[str, Any]) -> tuple[bool, int | None]:
    """Whether a Responses request reasons, and its output cap."""
    reasoning = body.get("reasoning")
    reasons = isinstance(reasoning, Mapping) and reasoning.get("effort") not in (None, "none")
    return reasons, _max(body, "max_output_tokens")


def chat_usage(outcome: CacheOutcome, reply: Reply) -> JSONObject:
    """Chat Completions usage: prompt_tokens includes the cached tokens."""
    return {
        "prompt_tokens": outcome.total,
        "completion_tokens": reply.output_tokens,
        "total_tokens": outcome.total + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": outcome.read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.thinking_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(reply: Reply) -> str:
    return "length" if reply.truncated else "stop"


def chat_completion(
    completion_id: str, model: str, created: int, reply: Reply, usage: JSONObject
) -> JSONObject:
    """The JSON body of a non-streaming `POST /v1/chat/completions`."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": _finish_reason(reply),
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def chat_chunks(
    completion_id: str,
    model: str,
    created: int,
    reply: Reply,
    usage: JSONObject,
    *,
    include_usage: bool,
) -> list[SseEvent]:
    """The chunks of a streamed chat completion, ending with `data: [DONE]`.

    With `include_usage` every chunk has `"usage": null` and a last chunk with empty
    `choices` carries the usage, as OpenAI does; without it no chunk has usage.
    """
    base: JSONObject = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: JSONObject, finish_reason: str | None = None) -> SseEvent:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse({**base, "choices": [choice]})

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out.extend(chunk({"content": piece}) for piece in text_pieces(reply.text))
    out.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        out.append(sse({**base, "choices": [], "usage": usage}, usage=usage))
    out.append(sse("[DONE]"))
    return out


def responses_usage(outcome: CacheOutcome, reply: Reply) -> JSONObject:
    """Responses usage: input_tokens includes the cached tokens."""
    return {
        "input_tokens": outcome.total,
        "input_tokens_details": {"cached_tokens": outcome.read, "cache_write_tokens": 0},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.thinking_tokens},
        "total_tokens": outcome.total + reply.output_tokens,
    }


def _message_item(item_id: str, text: str | None) -> JSONObject:
    done = text is not None
    return {
        "type": "message",
        "id": item_id,
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [_text_part(text)] if done else [],
    }


def _text_part(text: str | None) -> JSONObject:
    return {"type": "output_text", "text": text or "", "annotations": [], "logprobs": []}


def _reasoning_item(item_id: str) -> JSONObject:
    return {"type": "reasoning", "id": item_id, "summary": []}


def response(
    response_id: str,
    model: str,
    created_at: float,
    *,
    reply: Reply,
    body: Mapping[str, Any],
    usage: JSONObject | None,
    finished: bool = True,
) -> JSONObject:
    """A Responses `response` object: finished (with output and usage) or just created."""
    suffix = response_id.removeprefix("resp_")
    output: list[JSONObject] = []
    if finished:
        if reply.thinking_tokens:
            output.append(_reasoning_item(f"rs_{suffix}"))
        output.append(_message_item(f"msg_{suffix}", reply.text))
    status = "in_progress"
    if finished:
        status = "incomplete" if reply.truncated else "completed"
    instructions = body.get("instructions")
    reasoning = body.get("reasoning")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": (
            {"reason": "max_output_tokens"} if finished and reply.truncated else None
        ),
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": None}
        if isinstance(reasoning, Mapping)
        else {"effort": None, "summary": None},
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage if finished else None,
        "metadata": {},
    }


def responses_events(
    response_id: str,
    model: str,
    created_at: float,
    *,
    reply: Reply,
    body: Mapping[str, Any],
    usage: JSONObject,
) -> list[SseEvent]:
    """The events of a streamed response, `response.created` to `response.completed`.

    A response cut short by its output cap ends with `response.incomplete` instead.
    """
    suffix = response_id.removeprefix("resp_")
    seq = iter(range(1_000_000))
    out: list[SseEvent] = []

    def emit(kind: str, fields: JSONObject, event_usage: JSONObject | None = None) -> None:
        out.append(sse({"type": kind, "sequence_number": next(seq), **fields}, kind, event_usage))

    started = response(
        response_id, model, created_at, reply=reply, body=body, usage=None, finished=False
    )
    emit("response.created", {"response": started})
    emit("response.in_progress", {"response": started})
    index = 0
    if reply.thinking_tokens:
        item = _reasoning_item(f"rs_{suffix}")
        emit("response.output_item.added", {"output_index": index, "item": item})
        emit("response.output_item.done", {"output_index": index, "item": item})
        index += 1
    item_id = f"msg_{suffix}"
    place = {"item_id": item_id, "output_index": index, "content_index": 0}
    emit(
        "response.output_item.added",
        {"output_index": index, "item": _message_item(item_id, None)},
    )
    emit("response.content_part.added", {**place, "part": _text_part("")})
    for piece in text_pieces(reply.text):
        emit("response.output_text.delta", {**place, "delta": piece, "logprobs": []})
    emit("response.output_text.done", {**place, "text": reply.text, "logprobs": []})
    emit("response.content_part.done", {**place, "part": _text_part(reply.text)})
    emit(
        "response.output_item.done",
        {"output_index": index, "item": _message_item(item_id, reply.text)},
    )
    final = response(response_id, model, created_at, reply=reply, body=body, usage=usage)
    last = "response.incomplete" if reply.truncated else "response.completed"
    emit(last, {"response": final}, usage)
    return out


def error_body(status: int, error_type: str | None, message: str) -> JSONObject:
    """An OpenAI error envelope for an HTTP error response."""
    kind, code = ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": error_type or kind, "param": None, "code": code}}


def chat_stream_error(error_type: str, message: str) -> SseEvent:
    """A chunk carrying an error, as Chat Completions sends when a stream fails midway."""
    return sse({"error": {"message": message, "type": error_type, "param": None, "code": None}})


def responses_stream_error(error_type: str, message: str, sequence_number: int) -> SseEvent:
    """An `error` event of a Responses stream."""
    fields = {
        "type": "error",
        "code": error_type,
        "message": message,
        "param": None,
        "sequence_number": sequence_number,
    }
    return sse(fields, "error")
