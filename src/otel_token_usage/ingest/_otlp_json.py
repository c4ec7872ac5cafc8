"""OTLP JSON trace lines -> the parts of each span that `extract.record_line` reads.

Reads the OTLP/JSON encoding of `ExportTraceServiceRequest` (`resourceSpans` ->
`scopeSpans` -> `spans`), one request per line, as the OpenTelemetry Collector's `file`
exporter and the Python `opentelemetry-exporter-otlp-json-file` exporter write it:
lowerCamelCase keys, 64-bit integers as decimal strings (numbers accepted too), trace
and span ids as hex (base64, the generic protobuf mapping, accepted too).

Attribute values become what the SDK holds for the same attribute (`str`, `int`,
`float`, `bool`, tuples of those), so the extraction sees a span from a file exactly as
the in-process exporter sees the live span. A value the file spells badly (an
`intValue` that is not an integer) is passed on as its text, for the extraction to warn
about and record as 0, just as it would for a live span carrying that text.
"""

from __future__ import annotations

import binascii
import re
from typing import Any, NamedTuple

import msgspec
from opentelemetry.util.types import AttributeValue

__all__ = ["OtlpLineError", "SpanParts", "decode_line"]


class OtlpLineError(ValueError):
    """A line that is not an OTLP JSON export request (garbage, truncated, wrong types).

    `truncated` is True when the line ended before its JSON did."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


class SpanParts(NamedTuple):
    """One span as `extract.record_line` takes it (ids are None when the file has none)."""

    attrs: dict[str, AttributeValue]
    end_ns: int
    start_ns: int | None
    trace_id: int | None
    span_id: int | None


class _AnyValue(msgspec.Struct, rename="camel", gc=False):
    string_value: str | None = None
    bool_value: bool | None = None
    int_value: int | str | None = None
    double_value: float | str | None = None
    array_value: _ArrayValue | None = None
    # kvlistValue and bytesValue are not span attribute types in the SDK; skipped.


class _ArrayValue(msgspec.Struct, gc=False):
    values: list[_AnyValue] = []


class _KeyValue(msgspec.Struct, gc=False):
    key: str
    value: _AnyValue | None = None


class _Span(msgspec.Struct, rename="camel", gc=False):
    trace_id: str = ""
    span_id: str = ""
    name: str = ""
    start_time_unix_nano: int | str | None = None
    end_time_unix_nano: int | str | None = None
    attributes: list[_KeyValue] = []


class _ScopeSpans(msgspec.Struct, gc=False):
    spans: list[_Span] = []


class _ResourceSpans(msgspec.Struct, rename="camel", gc=False):
    scope_spans: list[_ScopeSpans] = []


class _Request(msgspec.Struct, rename="camel", gc=False):
    resource_spans: list[_ResourceSpans] | None = None
    # Other signals sharing the file (a collector `file` exporter in several pipelines):
    # recognised, not read.
    resource_metrics: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    resource_logs: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    resource_profiles: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


_DECODER = msgspec.json.Decoder(_Request)
_INTEGER = re.compile(r"-?[0-9]+")
_HEX = {16: re.compile(r"[0-9a-fA-F]{32}"), 8: re.compile(r"[0-9a-fA-F]{16}")}
_SPECIAL_DOUBLES = {"NaN", "Infinity", "-Infinity"}


def decode_line(line: bytes) -> tuple[list[SpanParts], list[str]]:
    """The spans of one OTLP JSON line, in the order they ended, and a message for each
    span that could not be read (bad ids or times): those are left out, the rest kept.

    Raises `OtlpLineError` when the line as a whole is not a trace export request.
    A line of another signal (metrics, logs, profiles) gives no spans and no messages.
    """
    try:
        request = _DECODER.decode(line)
    except msgspec.DecodeError as exc:
        text = str(exc)
        truncated = "truncated" in text
        what = "truncated OTLP JSON line" if truncated else f"not OTLP JSON ({text})"
        raise OtlpLineError(what, truncated=truncated) from None
    if request.resource_spans is None:
        if not (request.resource_metrics or request.resource_logs or request.resource_profiles):
            raise OtlpLineError("not an OTLP export request (no resourceSpans)")
        return [], []
    spans: list[SpanParts] = []
    problems: list[str] = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                try:
                    spans.append(_parts(span))
                except ValueError as exc:
                    name = f" {span.name!r}" if span.name else ""
                    problems.append(f"span{name} skipped: {exc}")
    # One request groups spans by resource and scope; the in-process exporter sees them
    # in the order they ended, and that is the order their lines take.
    spans.sort(key=_end)
    return spans, problems


def _end(span: SpanParts) -> int:
    return span.end_ns


def _parts(span: _Span) -> SpanParts:
    end = _time(span.end_time_unix_nano, "endTimeUnixNano")
    if not end:
        raise ValueError("no endTimeUnixNano")
    start = _time(span.start_time_unix_nano, "startTimeUnixNano")
    attrs: dict[str, AttributeValue] = {}
    for item in span.attributes:
        if item.value is not None:
            value = _value(item.value)
            if value is not None:
                attrs[item.key] = value
    return SpanParts(
        attrs,
        end,
        start or None,
        _id(span.trace_id, 16, "traceId"),
        _id(span.span_id, 8, "spanId"),
    )


def _time(value: int | str | None, name: str) -> int | None:
    if value is None or type(value) is int:
        if value is not None and value < 0:
            raise ValueError(f"{name} is negative")
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"{name} {value!r} is not a time in nanoseconds")


def _id(text: str, size: int, name: str) -> int | None:
    """The id as an int; None when absent or all zero (the OTLP "invalid id")."""
    if not text:
        return None
    if _HEX[size].fullmatch(text):
        number = int(text, 16)
    else:
        try:
            raw = binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            raw = b""
        if len(raw) != size:
            raise ValueError(f"{name} {text!r} is not {size} bytes of hex")
        number = int.from_bytes(raw, "big")
    return number or None


def _value(value: _AnyValue) -> Any:
    if value.string_value is not None:
        return value.string_value
    if value.int_value is not None:
        number = value.int_value
        if isinstance(number, str) and _INTEGER.fullmatch(number):
            return int(number)
        return number
    if value.bool_value is not None:
        return value.bool_value
    if value.double_value is not None:
        double = value.double_value
        if isinstance(double, str) and double in _SPECIAL_DOUBLES:
            return float(double)
        return double
    if value.array_value is not None:
        items = (_value(item) for item in value.array_value.values)
        return tuple(item for item in items if item is not None)
    return None
