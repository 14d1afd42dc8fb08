"""Scratch files of the invocations: in memory while the memory budget has room, else on the function's disk.

Every byte an invocation holds of a landed file or a bundle sits in a spool
from this pool. A spool asks for the room it expects to need when it is made;
it stays in memory while the budget (``COURIER_MEMORY_BUDGET_MB``) has that
room, else it is a file in ``directory`` (``/tmp`` on Lambda: its size is the
function's ephemeral storage). A spool that outgrows what it asked for moves
to disk on its own (``SpooledTemporaryFile``'s rollover), so the bytes in
memory never exceed the budget, whatever the batch. Disk spools are unlinked
at once: nothing outlives the process, even a killed one.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from typing import IO, Any


class _Spool(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
    """A SpooledTemporaryFile that gives its share of the budget back when closed."""

    def __init__(self, pool: Spools, reserved: int, directory: str | None) -> None:
        super().__init__(max_size=reserved, dir=directory)
        self._pool = pool
        self._reserved = reserved

    def close(self) -> None:
        try:
            super().close()
        finally:
            reserved, self._reserved = self._reserved, 0
            self._pool._give_back(reserved)


class Spools:
    """The spools of one execution environment, held to a memory budget.

    Parameters
    ----------
    memory_bytes
        The bytes all open spools may hold in memory together.
    directory
        Where spools that do not fit go; None is ``tempfile``'s default (``$TMPDIR``, else ``/tmp``).

    Example
    -------
    >>> spools = Spools(memory_bytes=8 * 2**20)
    >>> spool = spools.new(expected=1024)  # in memory: the budget has room
    >>> _ = spool.write(b"x" * 1024); spools.in_memory
    1024
    >>> spool.close(); spools.in_memory
    0
    """

    def __init__(self, memory_bytes: int, directory: str | None = None) -> None:
        self.memory_bytes = memory_bytes
        self.directory = directory
        self.in_memory = 0  # bytes reserved by open in-memory spools
        self.lock = threading.Lock()

    def new(self, expected: int) -> IO[bytes]:
        """A spool for about ``expected`` bytes: in memory if the budget has that much room, else on disk."""
        reserved = max(1, expected)
        with self.lock:
            fits = self.in_memory + reserved <= self.memory_bytes
            if fits:
                self.in_memory += reserved
        if fits:
            return _Spool(self, reserved, self.directory)  # type: ignore[return-value]
        return tempfile.TemporaryFile(dir=self.directory)

    def memory_free(self) -> int:
        with self.lock:
            return self.memory_bytes - self.in_memory

    def disk_free(self) -> int:
        """Free bytes where disk spools go (asked of the file system each time)."""
        return shutil.disk_usage(self.directory or tempfile.gettempdir()).free

    def room(self) -> int:
        """Bytes that new spools can take now: memory left plus free disk."""
        return self.memory_free() + self.disk_free()

    def _give_back(self, reserved: int) -> None:
        with self.lock:
            self.in_memory -= reserved


def close_quietly(*files: Any) -> None:
    for f in files:
        if f is not None:
            try:
                f.close()
            except OSError:
                continue
