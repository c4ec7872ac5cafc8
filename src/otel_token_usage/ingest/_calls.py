"""One OTLP JSON line -> the LLM calls it holds, each as the line it becomes.

This is the part of ingestion that depends on nothing but the input line (decoding,
`extract.record_line`, encoding); what depends on the logs (which calls they already
hold, where lines go) is the `Ingestor`'s.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

import msgspec

from otel_token_usage.export import call_key, record_line
from otel_token_usage.record import encode_lines
from otel_token_usage.semconv import GEN_AI_RESPONSE_ID

from ._log_index import span_key
from ._otlp_json import OtlpLineError, decode_line
from ._tail import InputLine

__all__ = ["Call", "Extracted", "Extraction", "shard_of"]

Call: TypeAlias = tuple[str, tuple[str, str] | None, int | None, bytes, int]
"""One LLM call: its session id; its `call_key` (session and response id; None without a
non-empty response id); its `span_key` (None without ids); its line, encoded and
framed; and the place of its span among the line's spans (in the order they ended)."""


class Extracted(NamedTuple):
    """What one OTLP JSON line holds."""

    error: str | None
    """Why the line as a whole is not a trace export request (then nothing else is set)."""
    log_line: bool
    """With `error`: the line is a line of a session log, not OTLP at all."""
    spans: int
    calls: int
    """Spans that are LLM calls (those of other shards included)."""
    other_shard: int
    problems: list[str]
    """For each span that could not be read: why (it is left out)."""
    found: list[Call]
    """The calls of this shard, in the order their spans ended."""


def shard_of(session_id: str, shards: int) -> int:
    """The shard (0 to `shards` - 1) a session belongs to: the CRC-32 of its id in UTF-8,
    modulo `shards`. Stable across processes, machines and versions."""
    return zlib.crc32(session_id.encode("utf-8", "surrogatepass")) % shards


class _LogLine(msgspec.Struct):
    ts: str
    session_id: str
    model: str


_LOG_LINE = msgspec.json.Decoder(_LogLine)


@dataclass(frozen=True)
class Extraction:
    """How lines are made: the fallback session, the line format (`extended`), and the
    shard `(k, n)` whose sessions are kept (None: all)."""

    fallback: str
    extended: bool
    shard: tuple[int, int] | None = None

    def extract_input(self, line: InputLine) -> Extracted | None:
        """`extract` of an input line; None for a blank line or one with an `error`."""
        if line.error is not None or not line.data.strip():
            return None
        return self.extract(line.data)

    def extract(self, data: bytes) -> Extracted:
        """The calls of one (non-blank) OTLP JSON line. Never raises for what the line
        holds: a bad line is an `error`, a bad span a `problem`."""
        try:
            spans, problems = decode_line(data)
        except OtlpLineError as exc:
            return Extracted(str(exc), _is_log_line(data), 0, 0, 0, [], [])
        found: list[Call] = []
        calls = other_shard = 0
        fallback, extended, shard = self.fallback, self.extended, self.shard
        for place, (attrs, end_ns, start_ns, trace_id, span_id) in enumerate(spans):
            try:
                line = record_line(attrs, end_ns, start_ns, trace_id, span_id, fallback, extended)
            except (ValueError, OverflowError) as exc:  # one bad span never stops the run
                problems.append(f"span skipped: {exc}")
                continue
            if line is None:
                continue
            calls += 1
            session_id = line.session_id
            if shard is not None and shard_of(session_id, shard[1]) != shard[0]:
                other_shard += 1
                continue
            key = None if trace_id is None or span_id is None else span_key(trace_id, span_id)
            same_call = call_key(session_id, attrs.get(GEN_AI_RESPONSE_ID))
            found.append((session_id, same_call, key, encode_lines([line]), place))
        return Extracted(None, False, len(spans), calls, other_shard, problems, found)

    def seed_line(self, data: bytes, place: int) -> bytes | None:
        """The seed-format line of the call at `place` in `data` (a line `extract` read),
        encoded; None if it is not a call."""
        attrs, end_ns, start_ns, _, _ = decode_line(data)[0][place]
        line = record_line(attrs, end_ns, start_ns, None, None, self.fallback, False)
        return None if line is None else encode_lines([line])


def _is_log_line(data: bytes) -> bool:
    """True for a line of a session log (what `token-usage.jsonl` holds)."""
    try:
        _LOG_LINE.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    return True
