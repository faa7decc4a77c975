"""One run per results file: an OS lock on `<results>.lock`, held for the whole run.

The kernel drops the lock when its process ends, however it ends (kill -9 included), so a
stale lock file never blocks the next run. The holder writes its pid into the file, so a
second run can say who holds it. `fcntl.flock` (POSIX) or `msvcrt.locking` (Windows): the
`filelock` package would do the locking, but it truncates the file when it opens it, which
would erase the holder's pid before the second run could read it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

from extractor.core.errors import ResultsInUseError, StorageError


class RunLock:
    def __init__(self, results: Path) -> None:
        self.path = results.with_name(results.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StorageError(f"cannot lock {self.path}: {err.strerror or err}") from None
        if not _try_lock(fd):
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            results = self.path.with_name(self.path.name.removesuffix(".lock"))
            raise ResultsInUseError(
                f"{results} is in use by another run (pid {holder}); wait for it to finish "
                "or write to another file"
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # The file stays: removing it would race with a run that has just opened it.
        os.close(fd)  # closing drops the lock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
