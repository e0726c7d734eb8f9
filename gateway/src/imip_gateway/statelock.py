"""One running gateway per state directory.

Two gateways on one database would send every invitation twice (jobs are not claimed, by
design: there is one sender). `imip-gateway run` holds an exclusive flock on
<state_dir>/gateway.lock for its whole life; the file holds the holder's pid as text, so the
second one can say who is running. The kernel drops the lock when the process ends, however it
ends (SIGKILL, a crash): a stale file never blocks a start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "gateway.lock"


class LockError(Exception):
    """The state directory cannot be locked; the message says why."""


class AlreadyRunning(LockError):
    """Another process holds the state directory's lock; the message names it."""


class StateLock:
    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            # Empty first: a pid left in the file would name a process that no longer holds it.
            os.ftruncate(self._fd, 0)
            os.close(self._fd)   # closing the last descriptor releases the flock
            self._fd = None


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


def acquire(state_dir: Path) -> StateLock:
    """Lock `state_dir` for this process, or raise AlreadyRunning (or LockError)."""
    path = state_dir / LOCK_NAME
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:   # e.g. run as a user who may not write the state directory
        raise LockError(f"cannot open {path}: {exc.strerror}; run imip-gateway as its service user") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise AlreadyRunning(
            f"another imip-gateway (pid {holder}) is already running with the state directory {state_dir} "
            f"(it holds {path}); two would send every invitation twice. Stop it first "
            f"(systemctl stop imip-gateway) or give this one another [gateway] state_dir") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return StateLock(path, fd)
