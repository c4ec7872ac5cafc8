"""Wire-level pieces shared by the API emulations: JSON bytes and stream events (server-sent
events, and the binary event-stream messages of Bedrock carried the same way)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSONObject = dict[str, Any]


def json_bytes(value: object) -> bytes:
    """Compact UTF-8 JSON, as the real APIs send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event as it goes on the wire.

    `usage` is the usage a correct reader holds once it has read this event (None when
    this event does not change it), so the server can tell what a broken stream delivered.
    `error` is the error this event carries, for events whose payload is not an SSE
    `data:` line (Bedrock's binary event stream).
    """

    payload: bytes
    usage: JSONObject | None = None
    error: JSONObject | None = None


def sse(data: object, event: str | None = None, usage: JSONObject | None = None) -> SseEvent:
    """An event with an optional `event:` line and a `data:` line (JSON unless a str)."""
    text = data if isinstance(data, str) else json_bytes(data).decode()
    head = f"event: {event}\n" if event is not None else ""
    return SseEvent(f"{head}data: {text}\n\n".encode(), usage)
