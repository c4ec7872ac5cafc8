"""OTLP JSON trace lines -> the parts of each span that `extract.record_line` reads.

Reads the OTLP/JSON encoding of `ExportTraceServiceRequest` (`resourceSpans` ->
`scopeSpans` -> `spans`), one request per line, as the OpenTelemetry Collector's `file`
exporter and the Python `opentelemetry-exporter-otlp-json-file` exporter write it:
lowerCamelCase keys, 64-bit integers as decimal strings (numbers accepted too), trace
and span ids as hex (base64, the generic protobuf mapping, accepted too).

Attribute values become what the SDK holds for the same attribute (`str`, `int`,
`float`, `bool`, tuples of those), so the extraction sees a span from a file exactly as
the in-process exporter sees the live span. Numbers and times are read as protobuf's
JSON mapping allows, as numbers or as text ("1500", "1.5e3", "NaN"); a value the file
spells badly (an `intValue` that is not an integer) is passed on as its text, for the
extraction to warn about and record as 0, just as it would for a live span carrying
that text.

A span OTLP cannot carry is left out with a message, and the rest of its line kept: a
time past 64 bits of nanoseconds (`fixed64`), an `intValue` past 64 bits (`int64`), a
value no JSON number type holds, bytes that are not UTF-8 (OTLP strings are UTF-8).
Those lines take a slower path that decodes them span by span.
"""

from __future__ import annotations

import binascii
import re
from operator import itemgetter
from typing import Any, TypeAlias

import msgspec
from opentelemetry.util.types import AttributeValue

from otel_token_usage.record import U64_MAX

__all__ = ["OtlpLineError", "SpanParts", "decode_line"]


class OtlpLineError(ValueError):
    """A line that is not an OTLP JSON export request (garbage, truncated, wrong types).

    `truncated` is True when the line ended before its JSON did."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


SpanParts: TypeAlias = tuple[dict[str, AttributeValue], int, int | None, int | None, int | None]
"""One span as `extract.record_line` takes it: attributes, end and start time (ns), trace
and span id (None when the file has none). A plain tuple: one is made per span."""


class _AnyValue(msgspec.Struct, rename="camel", gc=False):
    """A value as the usual spelling has it, read in msgspec's lax mode: a number given
    as text ("1500", "NaN") is read as that number, in C."""

    string_value: str | None = None
    bool_value: bool | None = None
    int_value: int | None = None
    double_value: float | None = None
    array_value: _ArrayValue | None = None
    # kvlistValue and bytesValue are not span attribute types in the SDK; skipped.


class _ArrayValue(msgspec.Struct, gc=False):
    values: list[_AnyValue] = []


class _KeyValue(msgspec.Struct, gc=False):
    key: str
    value: _AnyValue | None = None


class _Span(msgspec.Struct, rename="camel", gc=False):
    # No `name`: only messages use it, and a line with a bad span is read again by
    # `_span_by_span`, which gives it.
    trace_id: str = ""
    span_id: str = ""
    start_time_unix_nano: int | None = None
    end_time_unix_nano: int | None = None
    attributes: list[_KeyValue] = []


class _AnyText(msgspec.Struct, rename="camel", gc=False):
    """`_AnyValue` for a span the lax reading refused: a number that is no number is
    kept as its text (for `_value` to pass on or refuse)."""

    string_value: str | None = None
    bool_value: bool | None = None
    int_value: int | str | None = None
    double_value: float | str | None = None
    array_value: _ArrayText | None = None


class _ArrayText(msgspec.Struct, gc=False):
    values: list[_AnyText] = []


class _KeyText(msgspec.Struct, gc=False):
    key: str
    value: _AnyText | None = None


class _SpanText(msgspec.Struct, rename="camel", gc=False):
    trace_id: str = ""
    span_id: str = ""
    start_time_unix_nano: int | str | None = None
    end_time_unix_nano: int | str | None = None
    attributes: list[_KeyText] = []


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


class _RawScopeSpans(msgspec.Struct, gc=False):
    spans: list[msgspec.Raw] = []


class _RawResourceSpans(msgspec.Struct, rename="camel", gc=False):
    scope_spans: list[_RawScopeSpans] = []


class _RawRequest(msgspec.Struct, rename="camel", gc=False):
    """A request whose spans are left undecoded, to read them one at a time."""

    resource_spans: list[_RawResourceSpans] = []


class _Named(msgspec.Struct, gc=False):
    name: Any = ""


_DECODER = msgspec.json.Decoder(_Request, strict=False)
_RAW_DECODER = msgspec.json.Decoder(_RawRequest)
_SPAN_DECODER = msgspec.json.Decoder(_Span, strict=False)
_SPAN_TEXT_DECODER = msgspec.json.Decoder(_SpanText)
_NAME_DECODER = msgspec.json.Decoder(_Named)
_INTEGER = re.compile(r"-?[0-9]+")
_SPECIAL_DOUBLES = {"NaN", "Infinity", "-Infinity"}
_I64_MIN = -(2**63)
_END = itemgetter(1)
_MAX_DIGITS = len(str(U64_MAX))
_REPLACEMENT = "\ufffd".encode()


def decode_line(line: bytes) -> tuple[list[SpanParts], list[str]]:
    """The spans of one OTLP JSON line, in the order they ended, and a message for each
    span that could not be read (bad ids, times or values, bytes that are not UTF-8):
    those are left out, the rest kept.

    Raises `OtlpLineError` when the line as a whole is not a trace export request.
    A line of another signal (metrics, logs, profiles) gives no spans and no messages.
    """
    try:
        request = _DECODER.decode(line)
    except msgspec.ValidationError:
        # Valid JSON, but a value does not fit its type (a number past any integer
        # type, a time of the wrong kind): keep the spans that are fine. So too below,
        # for a span whose values do not make sense.
        return _span_by_span(line, bad_utf8=False)
    except msgspec.DecodeError as exc:
        text = str(exc)
        truncated = "truncated" in text
        what = "truncated OTLP JSON line" if truncated else f"not OTLP JSON ({text})"
        raise OtlpLineError(what, truncated=truncated) from None
    except UnicodeDecodeError:
        return _span_by_span(line, bad_utf8=True)
    if request.resource_spans is None:
        if not (request.resource_metrics or request.resource_logs or request.resource_profiles):
            raise OtlpLineError("not an OTLP export request (no resourceSpans)")
        return [], []
    try:
        spans = [
            _parts(span)
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
    except ValueError:
        return _span_by_span(line, bad_utf8=False)
    # One request groups spans by resource and scope; the in-process exporter sees them
    # in the order they ended, and that is the order their lines take.
    spans.sort(key=_END)
    return spans, []


def _span_by_span(line: bytes, *, bad_utf8: bool) -> tuple[list[SpanParts], list[str]]:
    """`decode_line` for a line the fast decoder refused: each span decoded on its own,
    so that one bad span costs only itself. Bytes that are not UTF-8 are replaced by
    U+FFFD to find the spans that hold them (unless the line already holds a real U+FFFD,
    which could not be told apart: then the whole line is refused)."""
    if bad_utf8:
        if _REPLACEMENT in line:
            raise OtlpLineError(_utf8_error(line))
        line = line.decode("utf-8", "replace").encode()
    try:
        request = _RAW_DECODER.decode(line)
    except msgspec.DecodeError as exc:
        raise OtlpLineError(f"not OTLP JSON ({exc})") from None
    spans: list[SpanParts] = []
    problems: list[str] = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for raw in scope.spans:
                if bad_utf8 and _REPLACEMENT in bytes(raw):
                    problems.append(_skipped(_name(raw), ValueError("not valid UTF-8")))
                    continue
                try:
                    try:
                        span: _Span | _SpanText = _SPAN_DECODER.decode(raw)
                    except msgspec.ValidationError:
                        span = _SPAN_TEXT_DECODER.decode(raw)
                    spans.append(_parts(span))
                except (msgspec.DecodeError, ValueError) as exc:
                    problems.append(_skipped(_name(raw), exc))
    spans.sort(key=_END)
    return spans, problems


def _name(raw: msgspec.Raw) -> str:
    try:
        name = _NAME_DECODER.decode(raw).name
    except msgspec.DecodeError:
        return ""
    return name if isinstance(name, str) else ""


def _skipped(name: str, exc: Exception) -> str:
    return f"span{f' {name!r}' if name else ''} skipped: {exc}"


def _utf8_error(line: bytes) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte 0x{line[exc.start]:02x} at offset {exc.start})"
    return "not UTF-8"


def _parts(span: _Span | _SpanText) -> SpanParts:
    """The parts of one span. The usual values (text, times and integers that fit in 64
    bits) are taken inline: this runs for every span and every attribute."""
    end: Any = span.end_time_unix_nano
    if type(end) is not int or not 0 < end <= U64_MAX:
        end = _time(end, "endTimeUnixNano")
        if not end:
            raise ValueError("no endTimeUnixNano")
    start: Any = span.start_time_unix_nano
    if start is not None and (type(start) is not int or not 0 <= start <= U64_MAX):
        start = _time(start, "startTimeUnixNano")
    attrs: dict[str, AttributeValue] = {}
    for item in span.attributes:
        value = item.value
        if value is None:
            continue
        result: Any = value.string_value
        if result is None:
            result = value.int_value
            if type(result) is not int or not _I64_MIN <= result <= U64_MAX:
                try:
                    result = _value(value)
                except ValueError as exc:
                    raise ValueError(f"attribute {item.key!r}: {exc}") from None
                if result is None:
                    continue
        attrs[item.key] = result
    return (
        attrs,
        end,
        start or None,
        _id(span.trace_id, 16, "traceId"),
        _id(span.span_id, 8, "spanId"),
    )


def _time(value: int | str | None, name: str) -> int | None:
    if value is None or type(value) is int:
        if value is not None and not 0 <= value <= U64_MAX:
            raise ValueError(f"{name} {_short(value)} is out of range (64 bits of nanoseconds)")
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) > _MAX_DIGITS or int(value) > U64_MAX:
            raise ValueError(f"{name} {_short(value)} is out of range (64 bits of nanoseconds)")
        return int(value)
    raise ValueError(f"{name} {_short(value)} is not a time in nanoseconds")


def _short(value: object) -> str:
    """A value for a message: a long one is cut, with its length said."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"of {value.bit_length()} bits"  # its digits could pass Python's limit
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:24]}... ({len(text)} characters)"


def _id(text: str, size: int, name: str) -> int | None:
    """The id as an int; None when absent or all zero (the OTLP "invalid id")."""
    if len(text) == 2 * size and text.isalnum() and text.isascii() and text[1] not in "xX":
        try:  # hex, the usual spelling (without "0x", which int() would take)
            return int(text, 16) or None
        except ValueError:
            pass
    if not text:
        return None
    try:
        # Hex is twice as long as the id's bytes; base64 never is (4/3 as long).
        raw = binascii.unhexlify(text) if len(text) == 2 * size else _base64(text)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise ValueError(f"{name} {_short(text)} is not {size} bytes of hex")
    return int.from_bytes(raw, "big") or None


def _base64(text: str) -> bytes:
    return binascii.a2b_base64(text, strict_mode=True)


def _value(value: _AnyValue | _AnyText) -> Any:
    if value.string_value is not None:
        return value.string_value
    if value.int_value is not None:
        return _integer(value.int_value)
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


def _integer(number: int | str) -> int | str:
    """An `intValue` as an int; text that is no integer is passed on as it is."""
    if isinstance(number, str):
        if not _INTEGER.fullmatch(number):
            return number
        if len(number.lstrip("-")) > _MAX_DIGITS:
            raise ValueError(f"intValue {_short(number)} is not a 64-bit integer")
        number = int(number)
    if not _I64_MIN <= number <= U64_MAX:
        raise ValueError(f"intValue {_short(number)} is not a 64-bit integer")
    return number
