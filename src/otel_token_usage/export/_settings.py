"""Settings: keyword argument, else `OTEL_TOKEN_USAGE_*` environment variable, else default.

A bad keyword argument raises `ValueError` (the caller can fix their code); a bad
environment value logs a warning and falls back to the default (a typo in a deployment
must not take the application down). The OpenTelemetry SDK builds the exporter with no
arguments when it is named in `OTEL_TRACES_EXPORTER`, so every setting has a variable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from otel_token_usage.record import session_dir_name
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION

__all__ = ["ENV_PREFIX", "ExporterSettings", "LineFormat"]

ENV_PREFIX = "OTEL_TOKEN_USAGE_"
LineFormat = Literal["extended", "seed"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def _integer(value: object, base: int) -> int:
    # Environment values are text; arguments must already be ints (not bools, not floats).
    if isinstance(value, str):
        return int(value, base)
    if type(value) is int:
        return value
    raise ValueError(f"must be an integer, not {value!r}")


def _positive_int(value: object) -> int:
    number = _integer(value, 10)
    if number < 1:
        raise ValueError(f"must be a positive integer, not {value!r}")
    return number


def _mode(value: object) -> int:
    number = _integer(value, 8)  # "0700" in the environment, 0o700 as an argument
    if not 0 <= number <= 0o7777:
        raise ValueError(f"must be a file mode such as 0o700, not {value!r}")
    return number


def _line_format(value: object) -> LineFormat:
    if value not in ("extended", "seed"):
        raise ValueError(f"must be 'extended' or 'seed', not {value!r}")
    return value


def _bool(value: object) -> bool:
    # The OpenTelemetry convention for boolean variables: "true"/"false", any case.
    if type(value) is bool:
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"must be true or false, not {value!r}")


def _session(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {value!r}")
    session_dir_name(value)  # refuses ids that cannot have a directory
    return value


def _path(value: object) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ValueError(f"must be a non-empty path, not {value!r}")
    return Path(value)


@dataclass(frozen=True)
class ExporterSettings:
    """Resolved settings of a `TokenUsageSpanExporter`; see `resolve` for the sources."""

    sessions_dir: Path = Path("sessions")
    """Root of the session directories (`OTEL_TOKEN_USAGE_SESSIONS_DIR`)."""
    fallback_session: str = DEFAULT_FALLBACK_SESSION
    """Session for spans that name none (`OTEL_TOKEN_USAGE_FALLBACK_SESSION`)."""
    line_format: LineFormat = "extended"
    """`seed`: exactly the Rust engine's 20 fields; `extended`: plus the extension fields
    (`OTEL_TOKEN_USAGE_LINE_FORMAT`)."""
    max_open_files: int = 128
    """Log descriptors kept open (`OTEL_TOKEN_USAGE_MAX_OPEN_FILES`)."""
    dir_mode: int = 0o700
    """Mode of new session directories (`OTEL_TOKEN_USAGE_DIR_MODE`, octal)."""
    file_mode: int = 0o600
    """Mode of new log files (`OTEL_TOKEN_USAGE_FILE_MODE`, octal)."""
    max_pending_lines: int = 100_000
    """Lines kept in memory for retry while the disk refuses them
    (`OTEL_TOKEN_USAGE_MAX_PENDING_LINES`); past it the oldest are dropped, loudly."""
    metrics: bool = True
    """Record token metrics on the meter provider (`OTEL_TOKEN_USAGE_METRICS`, true/false);
    with no provider set this costs nothing either way (see `metrics`)."""
    price_file: Path | None = None
    """Prices for the cost metric that override `genai-prices`' bundled data
    (`OTEL_TOKEN_USAGE_PRICE_FILE`, TOML or JSON; see `analysis.PriceBook`)."""

    @classmethod
    def resolve(
        cls, environ: Mapping[str, str] | None = None, **arguments: object
    ) -> ExporterSettings:
        """Settings from `arguments` (None means "not given"), then the environment, then
        the defaults. Raises `ValueError` for a bad or unknown argument only."""
        env = os.environ if environ is None else environ
        unknown = set(arguments) - set(_PARSERS)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, parse in _PARSERS.items():
            given = arguments.get(name)
            if given is not None:
                try:
                    values[name] = parse(given)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{name}: {exc}") from None
                continue
            variable = ENV_PREFIX + name.upper()
            text = env.get(variable, "").strip()
            if text:
                values[name] = _from_env(variable, text, parse, getattr(cls, name))
        return cls(**values)


def _from_env(variable: str, text: str, parse: Callable[[object], _T], default: _T) -> _T:
    try:
        return parse(text)
    except (TypeError, ValueError) as exc:
        _log.warning("ignoring %s=%r (%s); using %r", variable, text, exc, default)
        return default


_PARSERS: dict[str, Callable[[object], Any]] = {
    "sessions_dir": _path,
    "fallback_session": _session,
    "line_format": _line_format,
    "max_open_files": _positive_int,
    "dir_mode": _mode,
    "file_mode": _mode,
    "max_pending_lines": _positive_int,
    "metrics": _bool,
    "price_file": _path,
}
