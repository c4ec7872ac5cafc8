"""Which provider an OpenAI client talks to, named as the GenAI conventions register it.

Many providers serve the OpenAI API, and the `openai` SDK is pointed at them with
`base_url`. The provider is named from the client's base URL host (the table below),
`azure.ai.openai` for the SDK's `AzureOpenAI` clients whatever their host, and `openai`
for any other host (OpenAI itself, a proxy, a self-hosted server).
"""

from __future__ import annotations

import functools

from otel_token_usage import semconv as a
from otel_token_usage.instrumentation.openai._openai_compat import client_of

__all__ = ["HOSTS", "HOST_SUFFIXES", "provider_for_host", "provider_of"]

HOSTS: dict[str, str] = {
    "api.openai.com": a.PROVIDER_OPENAI,
    "api.deepseek.com": a.PROVIDER_DEEPSEEK,
    "api.x.ai": a.PROVIDER_XAI,
    "api.groq.com": a.PROVIDER_GROQ,
    "api.mistral.ai": a.PROVIDER_MISTRAL,
    "generativelanguage.googleapis.com": a.PROVIDER_GEMINI,  # Gemini's OpenAI endpoint
    "api.anthropic.com": a.PROVIDER_ANTHROPIC,  # Anthropic's OpenAI SDK compatibility
}
"""Base URL host -> `gen_ai.provider.name`."""

HOST_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", a.PROVIDER_AZURE_OPENAI),
    (".cognitiveservices.azure.com", a.PROVIDER_AZURE_OPENAI),
)
"""Base URL host suffix -> `gen_ai.provider.name` (Azure resources have their own host)."""


def provider_for_host(host: str) -> str | None:
    """The provider serving `host` (case-insensitive), or None for a host not listed."""
    host = host.lower().rstrip(".")
    found = HOSTS.get(host)
    if found is not None:
        return found
    for suffix, provider in HOST_SUFFIXES:
        if host.endswith(suffix):
            return provider
    return None


def provider_of(resource: object) -> str:
    """The provider of the client behind `resource`; `openai` when unsure. Never raises."""
    try:
        client = client_of(resource)
        if client is None:
            return a.PROVIDER_OPENAI
        if isinstance(client, _azure_clients()):
            return a.PROVIDER_AZURE_OPENAI
        host = getattr(getattr(client, "base_url", None), "host", None)
        found = provider_for_host(host) if isinstance(host, str) else None
    except Exception:  # noqa: BLE001 - a name is not worth failing a call over
        return a.PROVIDER_OPENAI
    return found or a.PROVIDER_OPENAI


@functools.cache
def _azure_clients() -> tuple[type, ...]:
    # Imported on first use: this module is loaded before instrument() checks that
    # openai is installed.
    try:
        from openai import AsyncAzureOpenAI, AzureOpenAI  # noqa: PLC0415
    except ImportError:
        return ()
    return (AzureOpenAI, AsyncAzureOpenAI)
