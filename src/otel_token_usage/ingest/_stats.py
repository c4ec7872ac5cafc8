"""What an ingest run read and wrote (`IngestStats`), and its one-line summary."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["IngestStats"]

_MAX_COUNTED_SESSIONS = 100_000


@dataclass
class IngestStats:
    """What a run read and wrote."""

    lines: int = 0
    """OTLP JSON lines read (blank lines not counted)."""
    spans: int = 0
    calls: int = 0
    """Spans that are LLM calls."""
    written: int = 0
    present: int = 0
    """Calls already in their session's log (or earlier in this run)."""
    duplicates: int = 0
    """Calls whose session and `gen_ai.response.id` another span of this run already had."""
    other_shard: int = 0
    """Calls of sessions that belong to another shard (see `Ingestor`'s `shard`)."""
    bad_lines: int = 0
    bad_spans: int = 0
    writes: int = 0
    """Appends made: one per session each time gathered lines are written."""
    logs_read: int = 0
    """Session logs read to learn what they hold (once per session, unless the bound on
    held ids made the run set an index aside and read it again)."""
    sessions: set[str] = field(default_factory=set)
    """Sessions whose logs were appended to (the first 100,000 named; see
    `more_sessions`)."""
    more_sessions: bool = False
    """True when more sessions were appended to than `sessions` names."""

    @property
    def skipped(self) -> int:
        """Unreadable lines and spans: non-zero means the exit status is 1."""
        return self.bad_lines + self.bad_spans

    def summary(self) -> str:
        """One line for people, e.g. `5 new lines in 2 sessions from 7 LLM calls (40 spans,
        3 OTLP lines); 2 already there, 0 duplicate response ids`."""
        sessions = _count(len(self.sessions), "session")
        if self.more_sessions:
            sessions = f"over {sessions}"
        text = (
            f"{_count(self.written, 'new line')} in {sessions} "
            f"from {_count(self.calls, 'LLM call')} ({_count(self.spans, 'span')}, "
            f"{_count(self.lines, 'OTLP line')}); {self.present} already there, "
            f"{_count(self.duplicates, 'duplicate response id')}"
        )
        if self.other_shard:
            text += f", {self.other_shard} for other shards"
        skipped = [
            _count(number, what)
            for number, what in ((self.bad_lines, "unreadable line"), (self.bad_spans, "span"))
            if number
        ]
        if skipped:
            text += f"; skipped {' and '.join(skipped)}"
        return text

    def appended(self, session_id: str) -> None:
        """Count `session_id` among the sessions written to."""
        if session_id in self.sessions:
            return
        if len(self.sessions) < _MAX_COUNTED_SESSIONS:
            self.sessions.add(session_id)
        else:
            self.more_sessions = True


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"
