"""Which API a request is for: its route, read from the method, the path and the host.

The fake serves each API at the paths its SDK uses, and also works as a plain-HTTP proxy:
a request in absolute form (`POST http://api.deepseek.com/chat/completions`, what an
HTTP client sends to a proxy) is answered as the provider named by that host would
answer it. So an `openai` client with `base_url="http://api.deepseek.com"` and the fake
as its proxy talks to "DeepSeek" without leaving 127.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ._records import ApiName

__all__ = ["Route", "resolve"]

_EXACT: dict[tuple[str, str], ApiName] = {
    ("POST", "/v1/messages"): "anthropic.messages",
    ("POST", "/v1/messages/count_tokens"): "anthropic.count_tokens",
    ("POST", "/v1/responses"): "openai.responses",
}
_CHAT_SUFFIX = "/chat/completions"
# Gemini API: /v1/models/M:generateContent; Vertex AI: /v1beta1/projects/P/locations/L/
# publishers/google/models/M:generateContent (or without the project, in express mode).
_GEMINI = re.compile(
    r"^/(?P<version>v1|v1beta|v1alpha|v1beta1)/"
    r"(?P<vertex>(?:projects/[^/]+/locations/[^/]+/)?publishers/google/)?"
    r"models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$"
)
_BEDROCK = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream)$")

# Hosts whose OpenAI-compatible answers the fake gives in that provider's own shape, or
# names (gen_ai.provider.name) in its records.
_COMPATIBLE_HOSTS = {
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x_ai",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
}
_AZURE_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com")


@dataclass(frozen=True, slots=True)
class Route:
    """A request's API, path (without scheme and host) and query; for APIs that carry
    them in the URL, the model and whether it streams; and the provider answering."""

    api: ApiName
    path: str
    query: str
    provider: str
    model: str | None = None
    stream: bool = False


def resolve(method: str, target: str, headers: Mapping[str, str]) -> Route:
    """The route of a request line's target (origin or absolute form) and headers
    (lower-case names)."""
    host = headers.get("host", "")
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        host, path, query = parts.netloc, parts.path, parts.query
    else:
        path, _, query = target.partition("?")
    host = host.split(":", 1)[0].lower()
    exact = _EXACT.get((method, path))
    if exact is not None:
        provider = "anthropic" if exact.startswith("anthropic") else "openai"
        return Route(exact, path, query, provider)
    if method == "POST" and path.endswith(_CHAT_SUFFIX):
        return Route("openai.chat", path, query, _compatible_provider(host))
    if method == "POST" and (match := _GEMINI.match(path)):
        vertex = match["vertex"] is not None or match["version"] == "v1beta1"
        return Route(
            "gemini.generate_content",
            path,
            query,
            "gcp.vertex_ai" if vertex else "gcp.gemini",
            model=match["model"],
            stream=match["method"] == "streamGenerateContent",
        )
    if method == "POST" and (match := _BEDROCK.match(path)):
        return Route(
            "bedrock.converse",
            path,
            query,
            "aws.bedrock",
            model=unquote(match["model"]),
            stream=match["op"] == "converse-stream",
        )
    return Route("unknown", path, query, "unknown")


def _compatible_provider(host: str) -> str:
    if host.endswith(_AZURE_SUFFIXES):
        return "azure.ai.openai"
    return _COMPATIBLE_HOSTS.get(host, "openai")
