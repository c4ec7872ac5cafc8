"""A generated sessions tree, as large as a test needs, written fast."""

from __future__ import annotations

from pathlib import Path

from otel_token_usage.record import LOG_FILE_NAME, RecordLine, encode_lines, format_ts

_TREE_MODELS = ("claude-opus-4-8", "claude-sonnet-5-5", "gpt-6-luna")


def write_sessions_tree(root: Path, sessions: int, calls: int) -> int:
    """A sessions tree like a fleet's: `sessions` session directories of `calls` lines
    each, over ten UTC days and three models, each session a growing conversation whose
    cache goes cold now and then (a pause past the TTL, a compression). Returns the
    total size in bytes. Written with the exporter's own line encoder, so it is fast."""
    total = 0
    day_ns = 86_400 * 10**9
    start_ns = 1_781_481_600 * 10**9  # 2026-06-15T00:00:00Z
    for number in range(sessions):
        session = f"session-{number:04d}"
        model = _TREE_MODELS[number % len(_TREE_MODELS)]
        provider = "openai" if model.startswith("gpt") else "anthropic"
        at_ns = start_ns + (number % 10) * day_ns + number * 60 * 10**9
        prompt = 3_000
        growth = 50 + (number * 37) % 400  # sessions differ in size and in cold rounds
        pauses, compressions = 7 + (number * 13) % 90, 11 + (number * 7) % 70
        lines = []
        for index in range(calls):
            pause = index % pauses == pauses - 1
            compress = index % compressions == compressions - 1
            at_ns += (400 if pause else 5 + index % 23) * 10**9
            if compress:
                prompt = 3_000
            cold = index == 0 or pause or compress
            grown = prompt + growth + (index * 37) % 200
            read = 0 if cold else prompt
            fresh = 40 + index % 7
            lines.append(
                RecordLine(
                    format_ts(at_ns), session, model, provider, index * 2 + 1,
                    grown - read - fresh, read, fresh, 120 + index % 50, index % 5 * 10,
                    2_000, 300 if compress else 0, grown, grown, 200_000, 150_000, 0, 0,
                    compress, 3 if compress else 0,
                    f"{number:016x}{index:016x}", f"{index:016x}", 900 + index % 400,
                    grown - read - fresh, None,
                )
            )  # fmt: skip
            prompt = grown
        directory = root / session
        directory.mkdir(parents=True, exist_ok=True)
        data = encode_lines(lines)
        (directory / LOG_FILE_NAME).write_bytes(data)
        total += len(data)
    return total
