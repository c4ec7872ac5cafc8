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
- A log that is not a regular file (a FIFO, socket, device or directory planted in its
  place) is refused too: it is opened with `O_NONBLOCK` (so a FIFO cannot block the
  open) and checked with `fstat` before anything is written; the descriptor is closed.
- New directories get `dir_mode` (0700), new logs `file_mode` (0600), both under umask.
- At most `max_open_files` log descriptors stay open (least recently used are closed),
  and never more than a quarter of the soft `RLIMIT_NOFILE` (read at each open), so the
  application keeps the rest. When an open still fails with `EMFILE`/`ENFILE`, every
  idle log descriptor is closed and the open is tried once more.
- Before each append the writer checks, with one `stat`, that the log's path still
  names the file it holds; when it does not (the log rotated or removed, or the
  sessions directory moved away, e.g. `mv sessions archive; mkdir sessions`), it opens
  the path afresh (and the sessions directory too, when the path no longer names the
  directory it holds), so new lines of new and existing sessions go to the directory
  that the path names now. A relative `sessions_dir` is taken relative to the working
  directory at construction.
- After `os.fork()` the child starts with a fresh lock and no descriptors of the
  parent's (it reopens its own logs, so its `flock`s exclude the parent's).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import resource
import stat
import threading
from collections import OrderedDict
from pathlib import Path

from otel_token_usage._util import reinit_after_fork
from otel_token_usage.record import LOG_FILE_NAME, SessionRefusedError, session_dir_name

__all__ = ["SessionLogWriter"]

_OPEN_ROOT = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_OPEN_DIR = _OPEN_ROOT | os.O_NOFOLLOW
_OPEN_LOG = (
    os.O_RDWR
    | os.O_APPEND
    | os.O_CREAT
    | os.O_NOFOLLOW
    | os.O_CLOEXEC
    | os.O_NONBLOCK
    | os.O_NOCTTY
)
# What open() says when the log's name is taken by something that is not a regular file
# we may write: a symlink, a directory, a socket, a device without a driver.
_NOT_A_LOG = {
    errno.ELOOP: "is a symbolic link",
    errno.EISDIR: "is a directory",
    errno.ENXIO: "is not a regular file",
    errno.ENODEV: "is not a regular file",
}
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
_SHARE_OF_DESCRIPTORS = 4
"""Log descriptors kept open never exceed 1/4 of the soft RLIMIT_NOFILE."""


class SessionLogWriter:
    """Appends framed lines to session logs below `sessions_dir` (see module docstring).

    Thread-safe and fork-safe. Errors are raised as `OSError` (or `SessionRefusedError`)
    and leave no partial line; the descriptor involved is dropped, so a later call starts
    afresh once the cause (full disk, permissions, a removed directory) is gone.
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
        self._root_path = os.path.abspath(sessions_dir)
        self._dir_mode = dir_mode
        self._file_mode = file_mode
        self._max_open_files = max_open_files
        self._lock = threading.Lock()
        self._root_fd: int | None = None
        self._root_id = (0, 0)
        self._files: OrderedDict[str, int] = OrderedDict()
        self._names: dict[str, str] = {}
        self._closed = False
        reinit_after_fork(self._after_fork_in_child)

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

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread the child does not have, and
        # the child shares the parent's open file descriptions, and so its flocks: it
        # gets a fresh lock and opens descriptors of its own.
        self._lock = threading.Lock()
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
        if fd is not None:
            if _still_named(fd, f"{self._root_path}/{name}/{LOG_FILE_NAME}"):
                self._files.move_to_end(name)
                return fd
            # Removed, rotated or moved away with its directory: writing on would put
            # lines where the path no longer leads.
            self._forget(name)
        try:
            fd = self._open(name)
        except OSError as exc:
            if exc.errno in _OUT_OF_DESCRIPTORS:
                self._forget_logs()  # all idle now: this call holds none of them
            else:
                # The cached sessions directory may be stale (removed, replaced): retry
                # once from its path before reporting the failure.
                self._forget_root()
            fd = self._open(name)
        self._files[name] = fd
        keep = _descriptor_budget(self._max_open_files)
        while len(self._files) > keep:
            _, oldest = self._files.popitem(last=False)
            _close_quietly(oldest)
        return fd

    def _root(self) -> int:
        fd = self._root_fd
        if fd is not None:
            try:
                now = os.stat(self._root_path)
                moved = (now.st_dev, now.st_ino) != self._root_id
            except OSError:
                moved = True
            if not moved:
                return fd
            self._forget_all()  # every log held is in the directory that moved away
        os.makedirs(self._root_path, mode=self._dir_mode, exist_ok=True)
        fd = os.open(self._root_path, _OPEN_ROOT)
        held = os.fstat(fd)
        self._root_fd, self._root_id = fd, (held.st_dev, held.st_ino)
        return fd

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
            fd = os.open(LOG_FILE_NAME, _OPEN_LOG, self._file_mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in _NOT_A_LOG:
                raise SessionRefusedError(
                    f"{name}/{LOG_FILE_NAME} {_NOT_A_LOG[exc.errno]}"
                ) from exc
            raise
        finally:
            os.close(dir_fd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SessionRefusedError(f"{name}/{LOG_FILE_NAME} is not a regular file")
            # Writes to a regular file wait for the disk, as they should.
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _forget(self, name: str) -> None:
        fd = self._files.pop(name, None)
        if fd is not None:
            _close_quietly(fd)

    def _forget_logs(self) -> None:
        for fd in self._files.values():
            _close_quietly(fd)
        self._files.clear()

    def _forget_root(self) -> None:
        if self._root_fd is not None:
            _close_quietly(self._root_fd)
            self._root_fd = None

    def _forget_all(self) -> None:
        self._forget_logs()
        self._forget_root()


def _descriptor_budget(max_open_files: int) -> int:
    """How many log descriptors may stay open: `max_open_files`, and at most a share of
    the soft RLIMIT_NOFILE, which may have been lowered since the writer was built."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_open_files
    return max(1, min(max_open_files, soft // _SHARE_OF_DESCRIPTORS))


def _still_named(fd: int, path: str) -> bool:
    """True while `path` names the file `fd` holds (and that file is not deleted)."""
    try:
        held = os.fstat(fd)
        current = os.stat(path, follow_symlinks=False)
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
