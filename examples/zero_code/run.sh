#!/bin/sh
# Zero code: run app.py under opentelemetry-instrument, its LLM calls logged per session.
# Offline by default (the local fake provider stands in for each API whose key is unset).
#   sh examples/zero_code/run.sh            # needs .venv/bin (or the package) on PATH
# Every variable below can be set by the caller instead.
set -eu
here=$(dirname "$0")

export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-zero-code-agent}"
# Our configurator: the SDK's set-up plus SessionSpanProcessor, and every LLM call a line
# whatever OTEL_TRACES_SAMPLER samples (opentelemetry-distro's is installed too).
export OTEL_PYTHON_CONFIGURATOR="${OTEL_PYTHON_CONFIGURATOR:-token_usage}"
# Our exporter by its entry-point name; `otlp,token_usage` also sends the traces on.
export OTEL_TRACES_EXPORTER="${OTEL_TRACES_EXPORTER:-token_usage}"
export OTEL_METRICS_EXPORTER="${OTEL_METRICS_EXPORTER:-none}"
export OTEL_LOGS_EXPORTER="${OTEL_LOGS_EXPORTER:-none}"
export OTEL_TOKEN_USAGE_SESSIONS_DIR="${OTEL_TOKEN_USAGE_SESSIONS_DIR:-./sessions}"
# The session of calls that name none (here: the OpenAI digest), one per run.
export OTEL_TOKEN_USAGE_FALLBACK_SESSION="${OTEL_TOKEN_USAGE_FALLBACK_SESSION:-zero-code-run}"
# No metrics exporter, so record no token metrics either.
export OTEL_TOKEN_USAGE_METRICS="${OTEL_TOKEN_USAGE_METRICS:-false}"
# opentelemetry-instrument loads every installed instrumentor. OpenLLMetry's Anthropic one
# ("anthropic") would trace each Anthropic call a second time, with prompts and replies on
# its span by default: one producer per call is enough.
export OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="${OTEL_PYTHON_DISABLED_INSTRUMENTATIONS:-anthropic}"

exec python "$here/with_fake_api.py" -- opentelemetry-instrument python "$here/app.py"
