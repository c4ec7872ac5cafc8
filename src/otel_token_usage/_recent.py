"""A bounded memory of recently seen keys, for "count this call once" checks.

Two producers of one call (the provider SDK's native span and an instrumentor's, say)
finish within moments of each other, so remembering the last few thousand keys is enough
to count the call once, and the memory never grows with the run.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["DEFAULT_CAPACITY", "RecentKeys"]

DEFAULT_CAPACITY = 4096


class RecentKeys:
    """`seen(key)` is True when `key` was offered among the last `capacity` to
    `2 * capacity` distinct keys, else False (and the key is remembered).

    Two generations, the older dropped whole when the newer fills: every step is O(1)
    and at most `2 * capacity` keys are held. Not thread-safe (callers hold their lock).
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._recent: set[Hashable] = set()
        self._older: set[Hashable] = set()

    def seen(self, key: Hashable) -> bool:
        """True if `key` was seen recently; otherwise remember it and return False."""
        if key in self._recent or key in self._older:
            return True
        self._recent.add(key)
        if len(self._recent) >= self._capacity:
            self._older, self._recent = self._recent, set()
        return False
