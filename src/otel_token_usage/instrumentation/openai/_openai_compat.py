"""Every private name of the `openai` SDK (and of pydantic's models) the OpenAI
instrumentation touches, in one place.

`legacy_response_type`: `with_raw_response` results are `openai._legacy_response.
LegacyAPIResponse` objects, which the SDK does not export publicly; the instrumentor
needs the class to tell them from parsed results (it then records usage from their
cached `parse()`). If it is gone, raw responses get a span without usage and a warning.

`unset_usage`, the one write into another library's state:

A Chat Completions stream opened without `stream_options.include_usage` gets it added by
the instrumentor, which then hides what only that option produced: the final usage-only
chunk is dropped, and on the other chunks `usage` must look as if the server had never
sent it: None *and unset*, so that `chunk.to_dict()` and `model_dump(exclude_unset=True)`
equal those of an unmodified request. pydantic has no public way to unset a field of an
existing model, so `unset_usage` removes "usage" from the model's fields-set
(`model_fields_set`, a live set in pydantic v2; `__fields_set__` in v1).

If that set cannot be reached, the field stays None-but-set and a throttled warning
says so. `tests/test_compat.py` fails when the installed SDK's chunks stop exposing it.

`client_of`: a resource keeps its client in `_client`; the instrumentor reads the
client's public `base_url` through it to name the provider (DeepSeek, xAI, ...). If it is
gone, every call is named `openai` and a throttled warning says so.
"""

from __future__ import annotations

import logging
from typing import Any

from otel_token_usage._util import ThrottledLogger

__all__ = ["client_of", "legacy_response_type", "unset_usage"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


def legacy_response_type() -> type[Any] | None:
    """The SDK's `LegacyAPIResponse` class (what `with_raw_response` returns), or None."""
    try:
        from openai._legacy_response import LegacyAPIResponse  # noqa: PLC0415
    except ImportError:
        _log.warning(
            "openai SDK: openai._legacy_response.LegacyAPIResponse is gone; calls made "
            "with `with_raw_response` are traced without usage"
        )
        return None
    return LegacyAPIResponse


def unset_usage(chunk: Any, usage: object) -> None:
    """Make `chunk.usage` look as if the server had never sent it (None and unset, so
    `to_dict()` / `model_dump(exclude_unset=True)` match an unmodified request)."""
    if usage is not None:
        chunk.usage = None
    fields_set = getattr(chunk, "model_fields_set", None)
    if fields_set is None:  # pydantic v1
        fields_set = getattr(chunk, "__fields_set__", None)
    if isinstance(fields_set, set):
        fields_set.discard("usage")
    else:
        _warn.warning(
            "fields_set",
            "openai SDK: a chunk has no model_fields_set; its usage field shows as set "
            "(None) to code that asks which fields the server sent",
        )


def client_of(resource: object) -> object | None:
    """The client behind a `chat.completions` / `responses` resource (its private
    `_client`: the SDK offers no public way back), or None with a throttled warning."""
    client = getattr(resource, "_client", None)
    if client is None:
        _warn.warning(
            "client",
            "openai SDK: the resource's _client is gone; otel-token-usage cannot read the "
            "client's base_url and names every OpenAI-compatible provider `openai`",
        )
    return client
