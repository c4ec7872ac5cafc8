"""The vocabulary of spans: every attribute name this project writes or reads, and which
spans are LLM calls, defined once (no pydantic, no OpenTelemetry SDK).

What we write follows the OpenTelemetry GenAI semantic conventions (v1.41 and the newer
GenAI repository); what the conventions lack lives under our own `token_usage.*`
namespace. The `READ_*` tuples list, per record field, the names the exporter accepts,
first match wins: current conventions, then older convention names, then OpenLLMetry's,
then OpenInference's, then the Anthropic SDK's native ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .record import BUDGET_FIELDS

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

DEFAULT_FALLBACK_SESSION = "no-session"
"""Where calls go whose span names no session: kept, never dropped."""

UNKNOWN = "unknown"
"""Model or provider of a span that names neither."""

# --- GenAI semantic conventions (current) ---
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
"""Metric attribute of `gen_ai.client.token.usage`: `input` or `output` (see `metrics`)."""
# content, written only when the user opts in (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"

# --- older convention names, still written by many producers ---
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
GEN_AI_SYSTEM = "gen_ai.system"
SESSION_ID = "session.id"
ERROR_TYPE = "error.type"

# --- OpenLLMetry (traceloop) ---
OPENLLMETRY_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read_input_tokens"
OPENLLMETRY_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation_input_tokens"
OPENLLMETRY_REASONING_TOKENS = "gen_ai.usage.reasoning_tokens"
OPENLLMETRY_REQUEST_TYPE = "llm.request.type"
OPENLLMETRY_SPAN_KIND = "traceloop.span.kind"

# --- OpenInference (Arize) ---
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
OPENINFERENCE_PROMPT_TOKENS = "llm.token_count.prompt"
OPENINFERENCE_COMPLETION_TOKENS = "llm.token_count.completion"
OPENINFERENCE_CACHE_READ = "llm.token_count.prompt_details.cache_read"
OPENINFERENCE_CACHE_WRITE = "llm.token_count.prompt_details.cache_write"
OPENINFERENCE_REASONING = "llm.token_count.completion_details.reasoning"
OPENINFERENCE_MODEL_NAME = "llm.model_name"
OPENINFERENCE_PROVIDER = "llm.provider"
OPENINFERENCE_SYSTEM = "llm.system"

# --- the Anthropic SDK's native tracing ---
ANTHROPIC_CACHE_WRITE_5M = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
ANTHROPIC_CACHE_WRITE_1H = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"

# --- our own namespace, for what the conventions lack ---
TOKEN_USAGE_MESSAGE_COUNT = "token_usage.message_count"
TOKEN_USAGE_CACHE_WRITE_5M = "token_usage.cache_write.5m.input_tokens"
TOKEN_USAGE_CACHE_WRITE_1H = "token_usage.cache_write.1h.input_tokens"
# OpenAI Responses' cache-write TTLs, which fit neither 5m nor 1h: kept on the span only.
TOKEN_USAGE_CACHE_WRITE_30M = "token_usage.cache_write.30m.input_tokens"
TOKEN_USAGE_CACHE_WRITE_12H = "token_usage.cache_write.12h.input_tokens"
TOKEN_USAGE_BUDGET_PREFIX = "token_usage.budget."

BUDGET_ATTRIBUTES: dict[str, str] = {
    field: TOKEN_USAGE_BUDGET_PREFIX + field for field in BUDGET_FIELDS
}
"""Record budget field -> the `token_usage.budget.<field>` attribute carrying it."""

# --- provider names (`gen_ai.provider.name`, the conventions' registered values) ---
PROVIDER_OPENAI = "openai"
PROVIDER_ANTHROPIC = "anthropic"
PROVIDER_GEMINI = "gcp.gemini"
PROVIDER_VERTEX_AI = "gcp.vertex_ai"
PROVIDER_BEDROCK = "aws.bedrock"
PROVIDER_AZURE_OPENAI = "azure.ai.openai"
PROVIDER_DEEPSEEK = "deepseek"
PROVIDER_XAI = "x_ai"
PROVIDER_MISTRAL = "mistral_ai"
PROVIDER_GROQ = "groq"

PROVIDER_ALIASES: dict[str, str] = {
    "gemini": PROVIDER_GEMINI,
    "vertex_ai": PROVIDER_VERTEX_AI,
    "xai": PROVIDER_XAI,
    "az.ai.openai": PROVIDER_AZURE_OPENAI,
}
"""Deprecated `gen_ai.system` values some producers still write (the upstream google-genai
instrumentation writes `gemini` / `vertex_ai`) -> the registered name a line carries."""

# The upstream botocore instrumentation marks every AWS SDK span with this; its Bedrock
# spans put the raw, cache-exclusive `inputTokens` in gen_ai.usage.input_tokens.
RPC_SYSTEM = "rpc.system"
RPC_SYSTEM_AWS_API = "aws-api"

# --- which spans are LLM calls ---
INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
"""`gen_ai.operation.name` values of one model inference: these spans become records."""

AGGREGATE_OPERATIONS = frozenset(
    {"invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "embeddings"}
)
"""Operations that are not one inference (they may carry summed usage): never records."""

OPENLLMETRY_REQUEST_TYPES: dict[str, str] = {"chat": "chat", "completion": "text_completion"}
"""OpenLLMetry's `llm.request.type` for producers that predate `gen_ai.operation.name`."""

OPENLLMETRY_AGGREGATE_KINDS = frozenset({"workflow", "task", "agent", "tool"})
OPENINFERENCE_LLM_KIND = "LLM"

# --- read order per record field (first match wins) ---
READ_SESSION = (GEN_AI_CONVERSATION_ID, SESSION_ID)
READ_MODEL = (GEN_AI_RESPONSE_MODEL, GEN_AI_REQUEST_MODEL, OPENINFERENCE_MODEL_NAME)
READ_PROVIDER = (GEN_AI_PROVIDER_NAME, GEN_AI_SYSTEM, OPENINFERENCE_PROVIDER, OPENINFERENCE_SYSTEM)
READ_INPUT = (GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_PROMPT_TOKENS, OPENINFERENCE_PROMPT_TOKENS)
READ_OUTPUT = (
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_COMPLETION_TOKENS,
    OPENINFERENCE_COMPLETION_TOKENS,
)
READ_CACHE_READ = (
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    OPENLLMETRY_CACHE_READ_INPUT_TOKENS,
    OPENINFERENCE_CACHE_READ,
)
READ_CACHE_WRITE = (
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    OPENLLMETRY_CACHE_CREATION_INPUT_TOKENS,
    OPENINFERENCE_CACHE_WRITE,
)
READ_REASONING = (
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    OPENLLMETRY_REASONING_TOKENS,
    OPENINFERENCE_REASONING,
)
READ_CACHE_WRITE_5M = (TOKEN_USAGE_CACHE_WRITE_5M, ANTHROPIC_CACHE_WRITE_5M)
READ_CACHE_WRITE_1H = (TOKEN_USAGE_CACHE_WRITE_1H, ANTHROPIC_CACHE_WRITE_1H)

USAGE_ATTRIBUTES = frozenset(
    READ_INPUT + READ_OUTPUT + READ_CACHE_READ + READ_CACHE_WRITE + READ_REASONING
)
"""Any of these on an inference span means it carries usage."""


def is_inference(attrs: Mapping[str, AttributeValue]) -> bool:
    """True for a span of one model inference, judged by what it says so far.

    Inference is `gen_ai.operation.name` in chat/text_completion/generate_content, an
    OpenInference span of kind LLM, or (older OpenLLMetry) `llm.request.type` chat or
    completion. Aggregates (agent, tool, workflow spans) are never inference even when
    they carry summed usage, so no token is counted twice.
    """
    operation = attrs.get(GEN_AI_OPERATION_NAME)
    if operation is not None:
        inference = operation in INFERENCE_OPERATIONS
    elif (kind := attrs.get(OPENINFERENCE_SPAN_KIND)) is not None:
        inference = kind == OPENINFERENCE_LLM_KIND
    else:
        inference = attrs.get(OPENLLMETRY_REQUEST_TYPE) in OPENLLMETRY_REQUEST_TYPES
    return inference and attrs.get(OPENLLMETRY_SPAN_KIND) not in OPENLLMETRY_AGGREGATE_KINDS


def is_llm_call(attrs: Mapping[str, AttributeValue]) -> bool:
    """True for a finished inference span (`is_inference`) that carries usage: the
    spans that become records."""
    return not USAGE_ATTRIBUTES.isdisjoint(attrs) and is_inference(attrs)


# --- metrics (recorded by the exporter; see `export.TokenMetrics`) ---
METER_NAME = "otel_token_usage"
TOKEN_UNIT = "{token}"
COST_UNIT = "USD"

TOKEN_USAGE = "gen_ai.client.token.usage"
INPUT_TOKENS = "gen_ai.client.inference.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.client.inference.usage.output_tokens"
CACHE_READ_INPUT_TOKENS = "gen_ai.client.inference.usage.cache_read.input_tokens"
CACHE_WRITE_INPUT_TOKENS = "gen_ai.client.inference.usage.cache_write.input_tokens"
REASONING_OUTPUT_TOKENS = "gen_ai.client.inference.usage.reasoning.output_tokens"
COST = "token_usage.client.inference.cost"

COUNTERS: tuple[str, ...] = (
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_INPUT_TOKENS,
    CACHE_WRITE_INPUT_TOKENS,
    REASONING_OUTPUT_TOKENS,
)
"""The token counters, in the order of `TokenMetrics`' per-batch sums."""

TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"
TOKEN_USAGE_BUCKETS: tuple[float, ...] = tuple(float(4**power) for power in range(14))
"""The GenAI conventions' explicit bucket boundaries: 1, 4, 16, ... 67108864."""

METRIC_ATTRIBUTES: tuple[str, ...] = (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
)
"""The only attribute keys on our data points (plus `gen_ai.token.type` on the histogram)."""

DESCRIPTIONS: dict[str, str] = {
    TOKEN_USAGE: "Tokens of one LLM call, by gen_ai.token.type (input includes cached tokens).",
    INPUT_TOKENS: "Input tokens, including cache reads and writes.",
    OUTPUT_TOKENS: "Output tokens, including reasoning tokens.",
    CACHE_READ_INPUT_TOKENS: "Input tokens read from the prompt cache.",
    CACHE_WRITE_INPUT_TOKENS: "Input tokens written to the prompt cache.",
    REASONING_OUTPUT_TOKENS: "Reasoning (thinking) part of the output tokens.",
    COST: "Estimated price of the calls, for models with a known price.",
}
