"""What the fake model answers: a configured reply, optional thinking, capped by max tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ._tokens import count_tokens

DEFAULT_REPLY = "This is a deterministic reply from the fake provider."
DEFAULT_THINKING_TOKENS = 16
WORDS_PER_DELTA = 4


@dataclass(frozen=True, slots=True)
class Reply:
    """The output of one call: visible text, thinking text and their token counts."""

    text: str
    text_tokens: int
    thinking: str
    thinking_tokens: int
    truncated: bool

    @property
    def output_tokens(self) -> int:
        """Billed output tokens: text and thinking together."""
        return self.text_tokens + self.thinking_tokens

    @property
    def signature(self) -> str:
        """A deterministic stand-in for the opaque signature of a thinking block."""
        return "sig_" + hashlib.sha256(self.thinking.encode()).hexdigest()[:32]


def plan_reply(
    reply: str,
    thinking_tokens: int,
    *,
    thinking: bool,
    thinking_budget: int | None = None,
    max_tokens: int | None = None,
    show_thinking: bool = True,
) -> Reply:
    """The reply for one call: thinking first (within its budget), then text, within max_tokens.

    A reply cut short by `max_tokens` keeps its first words and is marked `truncated`.
    """
    limit = max_tokens if max_tokens is not None and max_tokens >= 0 else None
    think = thinking_tokens if thinking else 0
    if thinking_budget is not None:
        think = min(think, thinking_budget)
    if limit is not None:
        think = min(think, limit)
    words = reply.split()
    room = len(words) if limit is None else limit - think
    truncated = len(words) > room
    text = " ".join(words[:room]) if truncated else reply
    thought = " ".join(f"thought{i}" for i in range(1, think + 1))
    return Reply(
        text=text,
        text_tokens=count_tokens(text),
        thinking=thought if show_thinking else "",
        thinking_tokens=think,
        truncated=truncated,
    )


def text_pieces(text: str) -> list[str]:
    """`text` cut into stream deltas of a few words; joined they give `text` back."""
    if not text:
        return []
    words = text.split(" ")
    pieces = [
        " ".join(words[i : i + WORDS_PER_DELTA]) for i in range(0, len(words), WORDS_PER_DELTA)
    ]
    # Each delta after the first carries the space that separated it from the one before.
    return [pieces[0], *(" " + piece for piece in pieces[1:])]
