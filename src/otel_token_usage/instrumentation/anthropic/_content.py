"""Prompt and completion content of an Anthropic call, for users who opted in.

Only used when `capture_content()` is true. Content follows the GenAI conventions'
structured message format (`role` + `parts`), JSON-encoded into one string attribute
each: `gen_ai.input.messages`, `gen_ai.system_instructions`, `gen_ai.output.messages`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage._util import field

__all__ = ["StreamedContent", "input_content", "output_content"]


def input_content(request: Mapping[str, object]) -> dict[str, AttributeValue]:
    """The request's messages and system prompt as content attributes."""
    attrs: dict[str, AttributeValue] = {}
    messages = request.get("messages")
    if isinstance(messages, list | tuple):
        attrs[a.GEN_AI_INPUT_MESSAGES] = _json(
            [
                {"role": field(message, "role"), "parts": _parts(field(message, "content"))}
                for message in messages
            ]
        )
    system = request.get("system")
    if system is not None and not isinstance(system, str | list | tuple):
        system = None
    if system:
        attrs[a.GEN_AI_SYSTEM_INSTRUCTIONS] = _json(_parts(system))
    return attrs


def output_content(blocks: object, finish_reason: object) -> dict[str, AttributeValue]:
    """A response's content blocks as the `gen_ai.output.messages` attribute."""
    message: dict[str, object] = {"role": "assistant", "parts": _parts(blocks)}
    if isinstance(finish_reason, str):
        message["finish_reason"] = finish_reason
    return {a.GEN_AI_OUTPUT_MESSAGES: _json([message])}


_STREAMED_FIELDS = ("text", "thinking", "partial_json")
"""What text_delta, thinking_delta and input_json_delta add to their block."""


class StreamedContent:
    """The content blocks of a streamed message, rebuilt from its events."""

    __slots__ = ("blocks", "pieces", "stop_reason")

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, object]] = {}
        # Per block and field, the streamed pieces, joined once at the end.
        self.pieces: dict[int, dict[str, list[str]]] = {}
        self.stop_reason: object = None

    def observe(self, kind: object, event: object) -> None:
        """Take one stream event into account (events of other kinds are ignored)."""
        if kind == "content_block_start":
            block = field(event, "content_block")
            index = field(event, "index")
            if isinstance(index, int):
                self.blocks[index] = {
                    "type": field(block, "type"),
                    "id": field(block, "id"),
                    "name": field(block, "name"),
                }
                self.pieces[index] = {
                    name: [text] if isinstance(text := field(block, name), str) else []
                    for name in _STREAMED_FIELDS
                }
        elif kind == "content_block_delta":
            self._delta(field(event, "index"), field(event, "delta"))
        elif kind == "message_delta":
            self.stop_reason = field(field(event, "delta"), "stop_reason")

    def _delta(self, index: object, delta: object) -> None:
        pieces = self.pieces.get(index) if isinstance(index, int) else None
        if pieces is None:
            return
        for name in _STREAMED_FIELDS:
            piece = field(delta, name)
            if isinstance(piece, str):
                pieces[name].append(piece)

    def attributes(self) -> dict[str, AttributeValue]:
        """The output content attribute for what arrived so far."""
        blocks: list[dict[str, object]] = []
        for index, block in sorted(self.blocks.items()):
            full = dict(block)
            pieces = self.pieces[index]
            full["text"] = "".join(pieces["text"])
            full["thinking"] = "".join(pieces["thinking"])
            if partial := "".join(pieces["partial_json"]):
                try:
                    full["input"] = json.loads(partial)
                except ValueError:
                    full["input"] = partial
            blocks.append(full)
        return output_content(blocks, self.stop_reason)


def _parts(content: object) -> list[dict[str, object]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if not isinstance(content, Iterable) or isinstance(content, bytes | Mapping):
        return []
    return [_part(block) for block in content]


def _part(block: object) -> dict[str, object]:
    kind = field(block, "type")
    if kind == "text":
        return {"type": "text", "content": field(block, "text")}
    if kind in ("thinking", "redacted_thinking"):
        return {"type": "reasoning", "content": field(block, "thinking")}
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": "tool_call",
            "id": field(block, "id"),
            "name": field(block, "name"),
            "arguments": field(block, "input"),
        }
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": field(block, "tool_use_id"),
            "response": field(block, "content"),
        }
    return {"type": kind if isinstance(kind, str) else "unknown"}


def _json(value: object) -> str:
    # Pydantic models (the SDK's blocks) and other objects fall back to str().
    return json.dumps(value, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:  # noqa: BLE001 - content is best effort
            return str(value)
    return str(value)
