"""The Gemini API and Vertex AI `generateContent` / `streamGenerateContent` as the fake
provider speaks them to `google-genai`: bodies, SSE chunks, usage, errors.

Caching is Gemini's implicit caching: automatic, at content boundaries (tools, system
instruction, each content), like OpenAI's, reported as `cachedContentTokenCount` (part
of `promptTokenCount`). Thinking is on when `generationConfig.thinkingConfig` gives a
budget other than 0 (-1: dynamic), shown as `thought` parts with `includeThoughts`, and
reported as `thoughtsTokenCount` (apart from `candidatesTokenCount`). A request with a
server-side tool (Google Search, code execution, URL context) reports
`TOOL_USE_PROMPT_TOKENS` tool-use prompt tokens. A request declaring functions whose last
content holds no `functionResponse` is answered with a `functionCall` of the first
declared function (each required argument "fake"), so automatic function calling runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._reply import Reply, text_pieces
from ._tokens import BadRequest, Block, block_of, value_tokens
from ._wire import JSONObject, SseEvent, sse

if TYPE_CHECKING:
    from ._engine import Engine
    from ._plan import Plan
    from ._records import RecordedResponse
    from ._routes import Route

__all__ = ["TOOL_USE_PROMPT_TOKENS", "error_body", "respond"]

TOOL_USE_PROMPT_TOKENS = 12
"""Tool-use prompt tokens a request with a server-side tool is billed."""

_SERVER_TOOLS = frozenset(
    {"googleSearch", "google_search", "codeExecution", "code_execution", "urlContext"}
)
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _get(mapping: object, *names: str) -> Any:
    """The first of `names` in `mapping` (the SDK sends some keys camelCase, some not)."""
    if isinstance(mapping, Mapping):
        for name in names:
            if name in mapping:
                return mapping[name]
    return None


def blocks(body: Mapping[str, Any]) -> list[Block]:
    """The prompt as cacheable blocks: all tools, the system instruction, each content."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    out: list[Block] = []
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        out.append(block_of("tools", tools, cacheable=False))
    system = body.get("systemInstruction")
    if system is not None:
        out.append(block_of("system", system, cacheable=False))
    out.extend(block_of("content", content, cacheable=False) for content in contents)
    return out


def _thinking(body: Mapping[str, Any]) -> tuple[bool, int | None, bool]:
    """Whether the request thinks, its budget (None: dynamic), whether thoughts show."""
    config = _get(_get(body, "generationConfig"), "thinkingConfig")
    if not isinstance(config, Mapping):
        return False, None, False
    budget = _get(config, "thinkingBudget", "thinking_budget")
    shown = _get(config, "includeThoughts", "include_thoughts") is True
    if budget == 0:
        return False, None, False
    return True, budget if isinstance(budget, int) and budget > 0 else None, shown


def _tool_use_tokens(body: Mapping[str, Any]) -> int:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return 0
    server = any(isinstance(t, Mapping) and not _SERVER_TOOLS.isdisjoint(t) for t in tools)
    return TOOL_USE_PROMPT_TOKENS if server else 0


def _function_call(body: Mapping[str, Any]) -> JSONObject | None:
    """The call to answer with, when the request declares functions and is not already
    giving a function's result."""
    declarations = [
        declaration
        for tool in body.get("tools") or ()
        if isinstance(tool, Mapping)
        for declaration in _get(tool, "functionDeclarations", "function_declarations") or ()
    ]
    last = body["contents"][-1]
    parts = _get(last, "parts") or ()
    answered = any(isinstance(p, Mapping) and "functionResponse" in p for p in parts)
    if not declarations or answered:
        return None
    first = declarations[0]
    schema = _get(first, "parameters", "parameters_json_schema", "parametersJsonSchema")
    required = _get(schema, "required") or ()
    return {"name": first.get("name", "f"), "args": {name: "fake" for name in required}}


def _usage(prompt: int, read: int, tool_use: int, reply: Reply, *, final: bool) -> JSONObject:
    """`usageMetadata`, camelCase, zero counts left out as the API does. Before the last
    chunk of a stream only the prompt is counted."""
    usage: JSONObject = {"promptTokenCount": prompt}
    if read:
        usage["cachedContentTokenCount"] = read
    total = prompt
    if final:
        usage["candidatesTokenCount"] = reply.text_tokens
        if tool_use:
            usage["toolUsePromptTokenCount"] = tool_use
        if reply.thinking_tokens:
            usage["thoughtsTokenCount"] = reply.thinking_tokens
        total += tool_use + reply.output_tokens
    usage["totalTokenCount"] = total
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if read:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": read}]
    return usage


def _parts(reply: Reply, call: JSONObject | None) -> list[JSONObject]:
    parts: list[JSONObject] = []
    if reply.thinking:
        parts.append({"text": reply.thinking, "thought": True})
    if call is not None:
        parts.append({"functionCall": call})
    elif reply.text:
        parts.append({"text": reply.text})
    return parts


def _chunk(
    response_id: str, model: str, parts: list[JSONObject], usage: JSONObject, finish: str | None
) -> JSONObject:
    candidate: JSONObject = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def respond(
    engine: Engine, index: int, route: Route, body: JSONObject, now: float
) -> tuple[Plan, RecordedResponse]:
    """Answer one `generateContent` / `streamGenerateContent` request."""
    model = route.model or ""
    prompt_blocks = blocks(body)
    thinking, budget, shown = _thinking(body)
    cap = _get(body.get("generationConfig"), "maxOutputTokens")
    outcome = engine.gemini_cache.process(model, prompt_blocks, now, engine.gemini_cache_ttl)
    reply = engine.reply_for(
        thinking=thinking,
        budget=budget,
        max_tokens=cap if isinstance(cap, int) else None,
        shown=shown,
    )
    call = _function_call(body)
    if call is not None:
        reply = dataclasses.replace(reply, text="", text_tokens=value_tokens(call), truncated=False)
    tool_use = _tool_use_tokens(body)
    finish = "MAX_TOKENS" if reply.truncated else "STOP"
    response_id = f"fake-gemini-{index + 1:016d}"
    prompt, read = outcome.total, outcome.read
    usage = _usage(prompt, read, tool_use, reply, final=True)
    if route.provider == "gcp.vertex_ai":
        usage["trafficType"] = "ON_DEMAND"
    if not route.stream:
        answer = _chunk(response_id, model, _parts(reply, call), usage, finish)
        return engine.json_response(
            index, route, answer, response_id=response_id, model=model, usage=usage, cache=outcome
        )
    events = _stream_events(response_id, model, reply, call, usage=usage, finish=finish)
    return engine.stream_response(
        index,
        route,
        events,
        lambda _kind, _seq: _stream_error("Injected stream error"),
        response_id=response_id,
        model=model,
        billed=usage,
        cache=outcome,
    )


def _stream_events(
    response_id: str,
    model: str,
    reply: Reply,
    call: JSONObject | None,
    *,
    usage: JSONObject,
    finish: str,
) -> list[SseEvent]:
    """The SSE chunks of a streamed answer: thoughts, text pieces, the last one with the
    finish reason and the whole usage (earlier ones count the prompt only)."""
    prompt = usage["promptTokenCount"]
    running = _usage(prompt, usage.get("cachedContentTokenCount", 0), 0, reply, final=False)
    pieces: list[list[JSONObject]] = []
    if reply.thinking:
        pieces.append([{"text": reply.thinking, "thought": True}])
    if call is not None:
        pieces.append([{"functionCall": call}])
    else:
        pieces.extend([{"text": piece}] for piece in text_pieces(reply.text))
    if not pieces:
        pieces.append([])
    out: list[SseEvent] = []
    for number, parts in enumerate(pieces, start=1):
        last = number == len(pieces)
        now_usage = usage if last else running
        data = _chunk(response_id, model, parts, now_usage, finish if last else None)
        out.append(sse(data, usage=now_usage))
    return out


def error_body(status: int, message: str) -> JSONObject:
    """Google's error envelope for an HTTP error."""
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def _stream_error(message: str) -> SseEvent:
    """An error chunk mid-stream (the SDK raises `APIError` on it)."""
    return sse(error_body(500, message))
