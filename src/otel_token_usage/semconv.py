"""The vocabulary of spans: every attribute name this project writes or reads, and which
spans are LLM calls, defined once (no pydantic, no OpenTelemetry SDK).

What we write follows the OpenTelemetry GenAI semantic conventions (v1.41 and the newer
GenAI repository); what the conventions lack lives under our own `token_usage.*`
namespace. The `READ_*` tuples list, per record field, the names the exporter accepts,
first match wins: current conventions, then older convention names, then OpenLLMetry's,
OpenInference's, pydantic-ai's, openlit's; the Anthropic SDK's native names for the
5m/1h split. Each producer's own names are declared in a section of their own.
`PRODUCER_RANKS` says whose count wins when spans of one call disagree.
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

# --- GenAI conventions, newest: per-modality parts of input and output (subsets) ---
GEN_AI_USAGE_INPUT_PARTS = (
    "gen_ai.usage.text.input_tokens",
    "gen_ai.usage.audio.input_tokens",
    "gen_ai.usage.image.input_tokens",
    "gen_ai.usage.video.input_tokens",
)
GEN_AI_USAGE_OUTPUT_PARTS = (
    "gen_ai.usage.text.output_tokens",
    "gen_ai.usage.audio.output_tokens",
    "gen_ai.usage.image.output_tokens",
    "gen_ai.usage.video.output_tokens",
)
"""Read only when a span gives no total: then the total is the sum of its parts."""

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
OPENLLMETRY_LLM_REASONING_TOKENS = "llm.usage.reasoning_tokens"  # before semconv-ai 0.5

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

# --- pydantic-ai: the provider's usage details, one attribute per key ---
PYDANTIC_AI_REASONING = "gen_ai.usage.details.reasoning_tokens"  # OpenAI
PYDANTIC_AI_THINKING = "gen_ai.usage.details.thinking_tokens"  # Anthropic
PYDANTIC_AI_CACHE_READ = "gen_ai.usage.details.cache_read_tokens"
PYDANTIC_AI_CACHE_READ_INPUT = "gen_ai.usage.details.cache_read_input_tokens"
PYDANTIC_AI_CACHE_WRITE = "gen_ai.usage.details.cache_write_tokens"
PYDANTIC_AI_CACHE_CREATION_INPUT = "gen_ai.usage.details.cache_creation_input_tokens"
PYDANTIC_AI_CACHE_WRITE_5M = "gen_ai.usage.details.ephemeral_5m_input_tokens"
PYDANTIC_AI_CACHE_WRITE_1H = "gen_ai.usage.details.ephemeral_1h_input_tokens"
"""pydantic-ai writes only the 1-hour part, and only when non-zero: the 5-minute part is
the rest of the cache write."""

# --- logfire: the provider's whole usage object, as a JSON string ---
LOGFIRE_USAGE_RAW = "gen_ai.usage.raw"
USAGE_RAW_PATHS: dict[str, tuple[str, ...]] = {
    "cache_read": (
        "prompt_tokens_details.cached_tokens",
        "input_tokens_details.cached_tokens",
        "cache_read_input_tokens",
    ),
    "cache_write": (
        "prompt_tokens_details.cache_write_tokens",
        "input_tokens_details.cache_write_tokens",
        "cache_creation_input_tokens",
    ),
    "reasoning": (
        "completion_tokens_details.reasoning_tokens",
        "output_tokens_details.reasoning_tokens",
        "output_tokens_details.thinking_tokens",
    ),
    "write_5m": ("cache_creation.ephemeral_5m_input_tokens",),
    "write_1h": ("cache_creation.ephemeral_1h_input_tokens",),
}
"""Field -> dotted paths inside `gen_ai.usage.raw` (OpenAI Chat, Responses, Anthropic
usage), read for fields no attribute gives. Input and output are never taken from it:
logfire always writes them as attributes (Anthropic's raw input is exclusive)."""
USAGE_RAW_MAX_CHARS = 65_536
"""A longer `gen_ai.usage.raw` is not parsed (a usage object is a few hundred chars)."""

# --- openlit (and the Strands Agents spans it reads) ---
OPENLIT_REASONING = "gen_ai.usage.completion_tokens_details.reasoning_tokens"
OPENLIT_CACHE_READ = "gen_ai.usage.prompt_tokens_details.cached_tokens"
OPENLIT_CACHE_WRITE = "gen_ai.usage.prompt_tokens_details.cache_creation_tokens"
STRANDS_CACHE_WRITE = "gen_ai.usage.cache_write_input_tokens"

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

# --- producers, by instrumentation scope: whose view of a call is the most exact ---
PRODUCER_RANKS: tuple[tuple[str, int], ...] = (
    # ours: exact usage objects, streamed counts replaced (never added), 5m/1h split
    ("otel_token_usage", 0),
    # the Anthropic SDK's own tracing: exact, inclusive input, 5m/1h split, thinking
    ("com.anthropic.sdk", 1),
    # pydantic-ai and logfire: exact usage objects, cache writes, provider details
    ("pydantic-ai", 2),
    ("pydantic_ai", 2),
    ("logfire", 2),
    # the official GenAI instrumentation (openai-v2 via opentelemetry-util-genai):
    # exact input and output, no cache or reasoning counts
    ("opentelemetry.util.genai", 3),
    ("opentelemetry.instrumentation.openai_v2", 3),
    # OpenInference: exact, but a cache write of 0 is left off
    ("openinference", 4),
    # OpenLLMetry: a cache read of 0 where the provider said nothing; streamed Anthropic
    # output over-counted by message_start's placeholder
    ("opentelemetry.instrumentation", 5),
    # openlit: exclusive Anthropic input, estimated stream counts, cache counts zeroed
    ("openlit", 6),
)
"""Instrumentation scope name prefix -> rank (lower is more exact), first match wins.
When spans of one call disagree, each field of the line comes from the lowest-ranked
span that reports it (see `export._merge`)."""
OTHER_PRODUCER_RANK = 7
"""Rank of spans whose scope matches none of `PRODUCER_RANKS` (hand-written, unknown)."""


def producer_rank(scope_name: str) -> int:
    """The rank of a span's producer, from its instrumentation scope name."""
    for prefix, rank in PRODUCER_RANKS:
        if scope_name.startswith(prefix):
            return rank
    return OTHER_PRODUCER_RANK


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
    PYDANTIC_AI_CACHE_READ,
    PYDANTIC_AI_CACHE_READ_INPUT,
    OPENLIT_CACHE_READ,
)
READ_CACHE_WRITE = (
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    OPENLLMETRY_CACHE_CREATION_INPUT_TOKENS,
    OPENINFERENCE_CACHE_WRITE,
    PYDANTIC_AI_CACHE_WRITE,
    PYDANTIC_AI_CACHE_CREATION_INPUT,
    OPENLIT_CACHE_WRITE,
    STRANDS_CACHE_WRITE,
)
READ_REASONING = (
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    OPENLLMETRY_REASONING_TOKENS,
    OPENINFERENCE_REASONING,
    PYDANTIC_AI_REASONING,
    PYDANTIC_AI_THINKING,
    OPENLIT_REASONING,
    OPENLLMETRY_LLM_REASONING_TOKENS,
)
READ_CACHE_WRITE_5M = (
    TOKEN_USAGE_CACHE_WRITE_5M,
    ANTHROPIC_CACHE_WRITE_5M,
    PYDANTIC_AI_CACHE_WRITE_5M,
)
READ_CACHE_WRITE_1H = (
    TOKEN_USAGE_CACHE_WRITE_1H,
    ANTHROPIC_CACHE_WRITE_1H,
    PYDANTIC_AI_CACHE_WRITE_1H,
)
"""When a span gives one part of the split and the cache write, the other part is the
rest of the cache write (Anthropic has the two TTLs only)."""

USAGE_ATTRIBUTES = frozenset(
    READ_INPUT
    + READ_OUTPUT
    + READ_CACHE_READ
    + READ_CACHE_WRITE
    + READ_REASONING
    + GEN_AI_USAGE_INPUT_PARTS
    + GEN_AI_USAGE_OUTPUT_PARTS
    + (LOGFIRE_USAGE_RAW,)
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


def session_of(attrs: Mapping[str, AttributeValue]) -> str | None:
    """The session a span names itself (`READ_SESSION`, first non-empty string or an
    integer), or None: read as the exporter reads it."""
    for name in READ_SESSION:
        value = attrs.get(name)
        if isinstance(value, str):
            if value:
                return value
        elif type(value) is int:
            return str(value)
    return None


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
