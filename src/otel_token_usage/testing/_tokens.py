"""Deterministic token counting, and the prompt as a sequence of cacheable blocks.

The rule: a text costs one token per whitespace-separated word (`len(text.split())`).
A structured value (a content block, a message, a tool definition) costs the words of
every string in it, at any depth, except the strings under the keys in `_UNCOUNTED_KEYS`
(markup such as `type`, `role`, ids and signatures). Dictionary keys cost nothing.

A prompt is cut into blocks at the boundaries where a provider can cache a prefix:
Anthropic in its own order (tools, then system, then messages), one block per tool, per
system block and per message content block; OpenAI one block for all tools, then one per
message (Chat Completions) or per input item (Responses, after the instructions).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

TtlLabel = Literal["5m", "1h"]

_UNCOUNTED_KEYS = frozenset(
    {"type", "role", "cache_control", "id", "tool_use_id", "tool_call_id", "call_id", "signature"}
)


class BadRequest(ValueError):
    """The request is malformed the way the real API would refuse it (HTTP 400)."""


def count_tokens(text: str) -> int:
    """The fake provider's token count of `text`: its number of whitespace-separated words."""
    return len(text.split())


def value_tokens(value: object) -> int:
    """Tokens of a JSON value: the words of its strings, skipping markup keys (see module doc)."""
    if isinstance(value, str):
        return count_tokens(value)
    if isinstance(value, Mapping):
        return sum(value_tokens(v) for k, v in value.items() if k not in _UNCOUNTED_KEYS)
    if isinstance(value, Sequence):
        return sum(value_tokens(v) for v in value)
    return 0


@dataclass(frozen=True, slots=True)
class Block:
    """One cacheable unit of a prompt: its token count, its identity, its breakpoint TTL."""

    tokens: int
    material: bytes
    ttl: TtlLabel | None = None


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _without_cache_control(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k != "cache_control"}
    return value


def _breakpoint_ttl(value: object) -> TtlLabel | None:
    if not isinstance(value, Mapping):
        return None
    control = value.get("cache_control")
    if control is None:
        return None
    if not isinstance(control, Mapping) or control.get("type") != "ephemeral":
        raise BadRequest("cache_control: only {'type': 'ephemeral'} is supported")
    ttl = control.get("ttl", "5m")
    if ttl not in ("5m", "1h"):
        raise BadRequest(f"cache_control.ttl: expected '5m' or '1h', got {ttl!r}")
    label: TtlLabel = ttl
    return label


def block_of(kind: str, value: object, *, cacheable: bool = True) -> Block:
    """One block of `kind` (part of its identity) for `value`; its breakpoint TTL from
    Anthropic's `cache_control` when `cacheable`."""
    ttl = _breakpoint_ttl(value) if cacheable else None
    material = _canonical([kind, _without_cache_control(value)])
    return Block(value_tokens(value), material, ttl)


def _as_list(value: object, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{field}: expected a list")
    return value


def anthropic_blocks(body: Mapping[str, Any]) -> list[Block]:
    """The prompt of a Messages request as blocks, in Anthropic's cache order."""
    blocks = [block_of("tool", tool) for tool in _as_list(body.get("tools"), "tools")]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(block_of("system", system))
    elif system is not None:
        blocks.extend(block_of("system", part) for part in _as_list(system, "system"))
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest("messages: Field required")
    for message in messages:
        if not isinstance(message, Mapping):
            raise BadRequest("messages: each message must be an object")
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            blocks.append(block_of(f"message:{role}", content))
            continue
        for position, part in enumerate(_as_list(content, "messages.content")):
            # The role and the message boundary are part of a block's identity, so the
            # same blocks split differently into messages are a different prefix.
            kind = f"message:{role}:{'first' if position == 0 else 'next'}"
            blocks.append(block_of(kind, part))
    check_breakpoints(blocks)
    return blocks


def check_breakpoints(blocks: Sequence[Block]) -> None:
    """Refuse what Anthropic (and Bedrock) refuse: over 4 breakpoints, a 1h one after a 5m one."""
    ttls = [block.ttl for block in blocks if block.ttl is not None]
    if len(ttls) > 4:
        raise BadRequest(
            f"A maximum of 4 blocks with cache_control may be provided. Found {len(ttls)}."
        )
    for earlier, later in itertools.pairwise(ttls):
        if earlier == "5m" and later == "1h":
            raise BadRequest(
                "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block"
            )


def chat_blocks(body: Mapping[str, Any]) -> list[Block]:
    """The prompt of a Chat Completions request as blocks: all tools, then each message."""
    blocks: list[Block] = []
    tools = _as_list(body.get("tools"), "tools")
    if tools:
        blocks.append(block_of("tools", tools, cacheable=False))
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest("Missing required parameter: 'messages'.")
    blocks.extend(block_of("message", message, cacheable=False) for message in messages)
    return blocks


def responses_blocks(body: Mapping[str, Any]) -> list[Block]:
    """The prompt of a Responses request as blocks: instructions, tools, each input item."""
    blocks: list[Block] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        blocks.append(block_of("instructions", instructions, cacheable=False))
    tools = _as_list(body.get("tools"), "tools")
    if tools:
        blocks.append(block_of("tools", tools, cacheable=False))
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise BadRequest("Missing required parameter: 'input'.")
    blocks.extend(block_of("item", item, cacheable=False) for item in items)
    return blocks
