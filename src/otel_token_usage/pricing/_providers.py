"""From a line's provider and model to the names `genai-prices` knows them by.

Lines name providers as the GenAI conventions register them (`gcp.gemini`,
`aws.bedrock`, `x_ai`, ...), and the older values some producers still write; the
price data has its own provider ids (`google`, `aws`, `x-ai`, ...). Gemini models may be
named by a resource path (`models/gemini-2.5-flash`, `publishers/google/models/...`,
`projects/P/locations/L/publishers/google/models/...`): the price is the model's.
Bedrock model ids keep their inference-profile prefix (`us.`, `global.`): it changes
the price.
"""

from __future__ import annotations

import re

__all__ = ["PROVIDER_IDS", "model_ref", "provider_id"]

PROVIDER_IDS: dict[str, str] = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "aws.bedrock": "aws",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "mistral_ai": "mistral",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
}
"""`gen_ai.provider.name` (current and deprecated values) -> `genai-prices` provider id,
where they differ (`openai`, `anthropic`, `deepseek`, `groq` are the same)."""

_RESOURCE_PATH = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?models/")


def provider_id(provider: str) -> str:
    """The `genai-prices` provider id of a line's provider."""
    return PROVIDER_IDS.get(provider, provider)


def model_ref(model: str) -> str:
    """The model name without a resource path (`models/...`, `publishers/.../models/...`)."""
    return _RESOURCE_PATH.sub("", model, count=1)
