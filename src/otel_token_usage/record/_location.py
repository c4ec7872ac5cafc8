"""Where a session's lines live: `<sessions_dir>/<session dir>/token-usage.jsonl`.

A session id maps to exactly one directory name directly below the sessions directory,
reversibly: ASCII letters, digits and `-_.+=@,~` stay as they are; everything else
('%' included) is percent-encoded as UTF-8, so '/', '\\', NUL, control characters and
a leading '.' ('.', '..', hidden names) cannot occur. The writer and every reader use
these two functions, so they always agree on the name.
"""

from __future__ import annotations

import string
from urllib.parse import quote, unquote

__all__ = [
    "LOG_FILE_NAME",
    "MAX_NAME_BYTES",
    "SessionRefusedError",
    "session_dir_name",
    "session_id_from_dir_name",
]

LOG_FILE_NAME = "token-usage.jsonl"
MAX_NAME_BYTES = 255

_SAFE = string.ascii_letters + string.digits + "-_.+=@,~"


class SessionRefusedError(ValueError):
    """A session id that cannot have its own log (empty, too long, or its directory or log
    is not a plain directory and regular file). Its lines belong in the fallback session."""


def session_dir_name(session_id: str) -> str:
    """The directory name of `session_id`: itself when made of safe characters, else
    percent-encoded. Raises `SessionRefusedError` when empty or over 255 bytes."""
    if not session_id:
        raise SessionRefusedError("empty session id")
    name = quote(session_id, safe=_SAFE, errors="surrogatepass")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > MAX_NAME_BYTES:
        raise SessionRefusedError(
            f"session id needs {len(name)} bytes as a directory name (limit {MAX_NAME_BYTES})"
        )
    return name


def session_id_from_dir_name(name: str) -> str:
    """Inverse of `session_dir_name`."""
    return unquote(name, errors="surrogatepass")
