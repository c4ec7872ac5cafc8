"""Prompt-cache simulation: Anthropic's explicit breakpoints and OpenAI's automatic prefixes.

Both caches key an entry by a digest of the model and every block of the prefix, so a
prefix hits only when it is byte-for-byte the same prompt head for the same model. Time
comes from the caller (the provider's injectable clock); the caches hold no lock of their
own, the provider serialises access.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ._tokens import Block, TtlLabel

TTL_SECONDS: dict[TtlLabel, float] = {"5m": 300.0, "1h": 3600.0}
"""Lifetime of an Anthropic cache entry for each `cache_control.ttl`."""

ANTHROPIC_LOOKBACK_BLOCKS = 20
"""How many block boundaries before a breakpoint Anthropic checks for an earlier hit."""


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """How one prompt's tokens split: read from the cache, written to it (per TTL), uncached.

    `read + write_5m + write_1h + uncached` is the whole prompt.
    """

    read: int
    write_5m: int
    write_1h: int
    uncached: int

    @property
    def write(self) -> int:
        """Tokens written to the cache, all TTLs together."""
        return self.write_5m + self.write_1h

    @property
    def total(self) -> int:
        """The whole prompt, cached or not."""
        return self.read + self.write + self.uncached


@dataclass(slots=True)
class _Entry:
    expires_at: float
    lifetime: float


def _prefix_digests(model: str, blocks: Sequence[Block]) -> list[bytes]:
    """digests[i] identifies the prefix ending with blocks[i] (inclusive)."""
    digest = hashlib.sha256(model.encode()).digest()
    digests: list[bytes] = []
    for block in blocks:
        digest = hashlib.sha256(digest + block.material).digest()
        digests.append(digest)
    return digests


def _cumulative(blocks: Sequence[Block]) -> list[int]:
    totals: list[int] = []
    running = 0
    for block in blocks:
        running += block.tokens
        totals.append(running)
    return totals


class _EntryStore:
    def __init__(self) -> None:
        self._entries: dict[bytes, _Entry] = {}

    def alive(self, digest: bytes, now: float) -> _Entry | None:
        entry = self._entries.get(digest)
        return entry if entry is not None and entry.expires_at > now else None

    def put(self, digest: bytes, now: float, lifetime: float) -> None:
        self._entries[digest] = _Entry(now + lifetime, lifetime)

    def prune(self, now: float) -> None:
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


class AnthropicPromptCache:
    """Anthropic's prompt caching with `cache_control` breakpoints.

    For a request: the longest prefix ending at a block boundary within
    `ANTHROPIC_LOOKBACK_BLOCKS` before (or at) a breakpoint that is cached and unexpired
    is read, and reading refreshes the TTL of every live entry along it. Each breakpoint
    beyond the read prefix writes its segment (from the previous breakpoint or the read
    prefix) with its own TTL. Tokens after the last written breakpoint are uncached. A
    breakpoint whose prefix is shorter than `min_tokens` caches nothing.
    """

    def __init__(self, min_tokens: int) -> None:
        self.min_tokens = min_tokens
        self._store = _EntryStore()

    def clear(self) -> None:
        """Forget every entry."""
        self._store.clear()

    def process(self, model: str, blocks: Sequence[Block], now: float) -> CacheOutcome:
        """Split the prompt into read/write/uncached tokens and update the cache."""
        self._store.prune(now)
        digests = _prefix_digests(model, blocks)
        totals = _cumulative(blocks)
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl is not None]

        hit = -1
        for bp in breakpoints:
            for j in range(bp, max(-1, bp - ANTHROPIC_LOOKBACK_BLOCKS), -1):
                if j <= hit:
                    break
                if totals[j] >= self.min_tokens and self._store.alive(digests[j], now):
                    hit = j
                    break
        read = totals[hit] if hit >= 0 else 0
        for j in range(hit + 1):
            entry = self._store.alive(digests[j], now)
            if entry is not None:
                entry.expires_at = now + entry.lifetime

        written: dict[TtlLabel, int] = {"5m": 0, "1h": 0}
        covered = read
        for bp in breakpoints:
            ttl = blocks[bp].ttl
            if ttl is None or totals[bp] < self.min_tokens or totals[bp] <= covered:
                continue
            written[ttl] += totals[bp] - covered
            self._store.put(digests[bp], now, TTL_SECONDS[ttl])
            covered = totals[bp]
        whole = totals[-1] if totals else 0
        return CacheOutcome(read, written["5m"], written["1h"], whole - covered)


class OpenAIPromptCache:
    """OpenAI's automatic prompt caching, at block (message or input item) boundaries.

    Every request stores each of its prefixes for `lifetime` seconds (refreshing those
    already stored); the longest stored, unexpired prefix of at least `min_tokens` tokens
    counts as cached. Nothing is ever reported as a cache write.
    """

    def __init__(self, min_tokens: int) -> None:
        self.min_tokens = min_tokens
        self._store = _EntryStore()

    def clear(self) -> None:
        """Forget every entry."""
        self._store.clear()

    def process(
        self, model: str, blocks: Sequence[Block], now: float, lifetime: float
    ) -> CacheOutcome:
        """Split the prompt into cached/uncached tokens and store its prefixes."""
        self._store.prune(now)
        digests = _prefix_digests(model, blocks)
        totals = _cumulative(blocks)
        read = 0
        for j in range(len(blocks) - 1, -1, -1):
            if totals[j] >= self.min_tokens and self._store.alive(digests[j], now):
                read = totals[j]
                break
        for digest in digests:
            self._store.put(digest, now, lifetime)
        whole = totals[-1] if totals else 0
        return CacheOutcome(read, 0, 0, whole - read)
