"""Session logs built from OTLP JSON trace files (`token-usage ingest`).

This is how spans from agents in any language reach `token-usage.jsonl`: the collector's
`file` exporter (or the Python `opentelemetry-exporter-otlp-json-file` exporter) writes
OTLP JSON, and ingestion turns every LLM-call span in it into the line the in-process
`TokenUsageSpanExporter` writes for the same span, byte for byte: both go through
`extract.record_line`, and both append through `storage.SessionLogWriter`.

Ingesting twice adds nothing (the rule):

- A line is known by its `trace_id` + `span_id` (extension fields): a span whose pair is
  already in its session's log, or came earlier in this run, is not written again.
- A line without those ids (the seed format, or a span the file gives no ids) is known
  by its whole content: the seed-format line of the same span repeats it byte for byte,
  so seed logs re-ingested in seed or extended format are recognised too. Its limit:
  two calls identical in every field down to the millisecond count as one, and lines
  written from elsewhere (the Rust engine itself) are never recognised. A session whose
  log has such lines is named in one warning.
- Spans of one session with the same non-empty `gen_ai.response.id` (one call seen by
  two producers) count once, as in the exporter (an empty id identifies nothing; the
  same id in two sessions is two calls); that memory spans this run (the last few
  thousand ids), not earlier runs, which is why files should be given in the order they
  were written.
- Each session's log is read, streaming, when the run first meets a call of that session
  (again if the run set it aside to keep within its bound on held ids, see `Ingestor`);
  a writer adding the same spans to it meanwhile is not seen. Two processes ingesting
  disjoint sets of sessions (`Ingestor`'s `shard`) write what one would.

A line that is not OTLP JSON (garbage, truncated, wrong types) and a span that cannot be
read (bad ids, times or values, bytes that are not UTF-8) are reported as
`file:line: why` on stderr and skipped; the rest is ingested. A session whose directory
or log is not a plain directory and a regular file is never read or written through:
its lines go to the fallback session, with a warning. Exit status: 0 when everything
was read, 1 when something was skipped, 2 on an error (one line on stderr; lines written
before it stay, and a re-run completes them).
"""

from __future__ import annotations

from ._calls import shard_of
from ._ingestor import (
    DEFAULT_MAX_HELD_IDS,
    DEFAULT_MAX_PENDING_BYTES,
    IngestError,
    Ingestor,
    IngestStats,
)
from ._run import follow_files, ingest_files
from ._tail import STDIN

__all__ = [
    "DEFAULT_MAX_HELD_IDS",
    "DEFAULT_MAX_PENDING_BYTES",
    "STDIN",
    "IngestError",
    "IngestStats",
    "Ingestor",
    "follow_files",
    "ingest_files",
    "shard_of",
]
