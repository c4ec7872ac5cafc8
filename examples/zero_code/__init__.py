"""Zero code: an app with no OpenTelemetry code, run under `opentelemetry-instrument`."""
