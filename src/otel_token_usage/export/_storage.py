"""The session log: append-only `<sessions_dir>/<session dir>/token-usage.jsonl`.

Guarantees, for every writer of this module in any thread or process:

- Each `append()` is one `write()` of whole lines on an `O_APPEND` descriptor under an
  exclusive `flock`, so concurrent writers never interleave or tear lines.
- A write that stops short (disk full, `RLIMIT_FSIZE`) is rolled back with `ftruncate`
  to where it began, then raises: only whole lines are ever left behind.
- A file that ends in a partial line (a writer killed mid-write) is terminated with a
  newline before the next append; the partial line stays, for readers to skip and count.
- A session id maps to exactly one directory name directly below `sessions_dir`,
  reversibly (`record.session_dir_name`); no id can name a path outside it, and a
  session directory or log that is a symbolic link is refused, never followed.
- New directories get `dir_mode` (0700), new logs `file_mode` (0600), both under umask.
- At most `max_open_files` descriptors stay open (least recently used are closed).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from otel_token_usage.record import LOG_FILE_NAME, SessionRefusedError, session_dir_name

__all__ = ["SessionLogWriter"]

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_LOG = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class SessionLogWriter:
    """Appends framed lines to session logs below `sessions_dir` (see module docstring).

    Thread-safe. Errors are raised as `OSError` (or `SessionRefusedError`) and leave no
    partial line; the descriptor involved is dropped, so a later call starts afresh once
    the cause (full disk, permissions, a removed directory) is gone.
    """

    def __init__(
        self,
        sessions_dir: str | os.PathLike[str],
        *,
        dir_mode: int = 0o700,
        file_mode: int = 0o600,
        max_open_files: int = 128,
    ) -> None:
        if max_open_files < 1:
            raise ValueError("max_open_files must be at least 1")
        self.sessions_dir = Path(sessions_dir)
        self._dir_mode = dir_mode
        self._file_mode = file_mode
        self._max_open_files = max_open_files
        self._lock = threading.Lock()
        self._root_fd: int | None = None
        self._files: OrderedDict[str, int] = OrderedDict()
        self._names: dict[str, str] = {}
        self._closed = False
        # A forked child shares our open file descriptions, and so our flocks: it must
        # open its own to exclude the parent.
        os.register_at_fork(after_in_child=_forget_in_child(weakref.ref(self)))

    def path_of(self, session_id: str) -> Path:
        """Where the log of `session_id` is (whether or not it exists yet)."""
        return self.sessions_dir / self._dir_name(session_id) / LOG_FILE_NAME

    def append(self, session_id: str, data: bytes) -> None:
        """Append `data`, whole `\\n`-terminated lines, to the log of `session_id`."""
        name = self._dir_name(session_id)
        with self._lock:
            if self._closed:
                raise ValueError("session log writer is closed")
            fd = self._file(name)
            try:
                _append_locked(fd, data)
            except OSError:
                self._forget(name)
                raise

    def fsync(self) -> None:
        """Push every open log to stable storage."""
        with self._lock:
            for fd in self._files.values():
                os.fsync(fd)

    def close(self) -> None:
        """Close every descriptor. Idempotent; later appends raise."""
        with self._lock:
            self._closed = True
            self._forget_all()

    def _dir_name(self, session_id: str) -> str:
        name = self._names.get(session_id)
        if name is None:
            name = session_dir_name(session_id)
            if len(self._names) >= 4096:
                self._names.clear()
            self._names[session_id] = name
        return name

    def _file(self, name: str) -> int:
        fd = self._files.get(name)
        if fd is not None and _still_linked(fd, self._root(), name):
            self._files.move_to_end(name)
            return fd
        if fd is not None:
            # Removed or rotated under us: writing on would lose lines to an unlinked file.
            self._forget(name)
        try:
            fd = self._open(name)
        except OSError:
            # The cached sessions directory may be stale (removed, replaced): retry once
            # from its path before reporting the failure.
            self._forget_root()
            fd = self._open(name)
        self._files[name] = fd
        while len(self._files) > self._max_open_files:
            _, oldest = self._files.popitem(last=False)
            os.close(oldest)
        return fd

    def _root(self) -> int:
        if self._root_fd is None:
            self.sessions_dir.mkdir(mode=self._dir_mode, parents=True, exist_ok=True)
            self._root_fd = os.open(self.sessions_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._root_fd

    def _open(self, name: str) -> int:
        root = self._root()
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, self._dir_mode, dir_fd=root)
        try:
            dir_fd = os.open(name, _OPEN_DIR, dir_fd=root)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise SessionRefusedError(f"{name!r} is not a plain directory") from exc
            raise
        try:
            return os.open(LOG_FILE_NAME, _OPEN_LOG, self._file_mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SessionRefusedError(f"{name}/{LOG_FILE_NAME} is a symbolic link") from exc
            raise
        finally:
            os.close(dir_fd)

    def _forget(self, name: str) -> None:
        fd = self._files.pop(name, None)
        if fd is not None:
            _close_quietly(fd)

    def _forget_root(self) -> None:
        if self._root_fd is not None:
            _close_quietly(self._root_fd)
            self._root_fd = None

    def _forget_all(self) -> None:
        for fd in self._files.values():
            _close_quietly(fd)
        self._files.clear()
        self._forget_root()


def _forget_in_child(ref: weakref.ref[SessionLogWriter]) -> Callable[[], None]:
    def forget() -> None:
        writer = ref()
        if writer is not None:
            writer._forget_all()

    return forget


def _still_linked(fd: int, root_fd: int, name: str) -> bool:
    """True while `fd` is still the file at `<name>/token-usage.jsonl`."""
    try:
        held = os.fstat(fd)
        current = os.stat(f"{name}/{LOG_FILE_NAME}", dir_fd=root_fd, follow_symlinks=False)
    except OSError:
        return False
    return held.st_nlink > 0 and (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


def _append_locked(fd: int, data: bytes) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        start = os.fstat(fd).st_size
        if start and os.pread(fd, 1, start - 1) != b"\n":
            data = b"\n" + data  # terminate a line torn by a crashed writer
        _write_whole(fd, data, start)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _write_whole(fd: int, data: bytes, start: int) -> None:
    """Write all of `data` or, on any failure, truncate back to `start` and raise."""
    view = memoryview(data)
    written = 0
    try:
        while written < len(view):
            count = os.write(fd, view[written:])
            if count == 0:
                raise OSError(errno.EIO, "write made no progress")
            written += count
    except OSError:
        if written:
            os.ftruncate(fd, start)
        raise


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
