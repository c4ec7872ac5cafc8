"""What the engine hands the HTTP layer (`Plan`), and the faults a test can inject."""

from __future__ import annotations

from dataclasses import dataclass

from ._wire import SseEvent

__all__ = ["Failure", "Plan", "StreamBreak"]


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
