"""Scratch files of the invocations: in memory while the memory budget has room, else on the function's disk.

Every byte an invocation holds of a landed file or a bundle sits in a spool
from this pool. A spool asks for the room it expects to need when it is made;
it stays in memory (an anonymous memory map of that size, given back to the
system when closed) while the budget (``COURIER_MEMORY_BUDGET_MB``) has that
room, else it is a file in ``directory`` (``/tmp`` on Lambda: its size is the
function's ephemeral storage). A spool that outgrows what it asked for moves
to disk on its own, so the bytes in memory never exceed the budget, whatever
the batch. The budget is charged what the kernel charges, not the bytes asked
for: a map takes whole pages, and each spool costs its objects besides
(:func:`charge`), so ten thousand files of a hundred bytes count ~50 MB, not
1 MB. Disk spools are unlinked at once: nothing outlives the process, even a
killed one.
"""

from __future__ import annotations

import io
import mmap
import shutil
import tempfile
import threading
from typing import IO, Any

ROLLOVER_CHUNK = 1 << 20  # bytes copied at a time when a spool moves from memory to disk
PAGE_BYTES = mmap.PAGESIZE  # an anonymous map is made of whole pages, however few bytes it holds
# Each in-memory spool besides its pages: the spool and map objects and their share of the process's
# bookkeeping. 10,000 spools of 100 bytes grew RSS by 43 MiB, 4.4 KiB each, one page and ~0.4 KiB
# (issue 21; bench/large_file.py's 10,000-file batch): taken as 1 KiB.
SPOOL_OVERHEAD_BYTES = 1024


def charge(reserved: int) -> int:
    """What an in-memory spool of ``reserved`` bytes costs the budget: its pages and its overhead."""
    return -(-max(1, reserved) // PAGE_BYTES) * PAGE_BYTES + SPOOL_OVERHEAD_BYTES


class _MemorySpool(io.RawIOBase):
    """A spool in an anonymous memory map of the size it reserved; past it, the bytes move to a file on disk.

    A map rather than a ``BytesIO``: its pages go back to the system the moment it is
    closed. Buffers grown by ``realloc`` land in the allocator's arenas (one per
    thread that fetched) and stay in the process's RSS after they are freed, which
    let a batch of mixed sizes climb well past the budget.
    """

    def __init__(self, pool: Spools, reserved: int, charged: int, directory: str | None) -> None:
        super().__init__()
        self._pool = pool
        self._reserved = reserved
        self._charged = charged  # what the pool counts for it (pages and overhead), given back once
        self._directory = directory
        self._map: mmap.mmap | None = mmap.mmap(-1, reserved)
        self._file: IO[bytes] | None = None
        self._end = 0  # bytes written: the map's length is the reservation, not the content

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def write(self, data: Any) -> int:
        if self._file is not None:
            return self._file.write(data)
        assert self._map is not None
        if self._map.tell() + len(data) > self._reserved:
            return self._rollover().write(data)
        written = self._map.write(data)
        self._end = max(self._end, self._map.tell())
        return written

    def read(self, size: int = -1) -> bytes:
        if self._file is not None:
            return self._file.read(size)
        assert self._map is not None
        left = self._end - self._map.tell()
        return self._map.read(left if size < 0 else max(0, min(size, left)))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._file is not None:
            return self._file.seek(offset, whence)
        assert self._map is not None
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._map.tell(), io.SEEK_END: self._end}[whence]
        self._map.seek(base + offset)
        return self._map.tell()

    def tell(self) -> int:
        if self._file is not None:
            return self._file.tell()
        assert self._map is not None
        return self._map.tell()

    def _rollover(self) -> IO[bytes]:
        assert self._map is not None
        position = self._map.tell()
        disk = tempfile.TemporaryFile(dir=self._directory)
        try:
            # In chunks from a view of the map: a slice would copy the whole spool into one more buffer
            # (hundreds of MB at the budget's edge) at the moment memory is shortest.
            with memoryview(self._map) as view:
                for start in range(0, self._end, ROLLOVER_CHUNK):
                    disk.write(view[start : min(start + ROLLOVER_CHUNK, self._end)])
        except BaseException:
            disk.close()
            raise
        disk.seek(position)
        self._file = disk
        self._map.close()
        self._map = None
        self._give_back()
        return disk

    def _give_back(self) -> None:
        charged, self._charged = self._charged, 0
        if charged:
            self._pool._give_back(charged)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._map is not None:
                self._map.close()
            if self._file is not None:
                self._file.close()
        finally:
            self._give_back()
            super().close()


class Spools:
    """The spools of one execution environment, held to a memory budget.

    Parameters
    ----------
    memory_bytes
        The bytes all open spools may hold in memory together, each counted as :func:`charge` says.
    directory
        Where spools that do not fit go; None is ``tempfile``'s default (``$TMPDIR``, else ``/tmp``).

    Example
    -------
    >>> spools = Spools(memory_bytes=8 * 2**20)
    >>> spool = spools.new(expected=1024)  # in memory: the budget has room for its page and overhead
    >>> _ = spool.write(b"x" * 1024); spools.in_memory == charge(1024) == PAGE_BYTES + SPOOL_OVERHEAD_BYTES
    True
    >>> spool.close(); spools.in_memory
    0
    """

    def __init__(self, memory_bytes: int, directory: str | None = None) -> None:
        self.memory_bytes = memory_bytes
        self.directory = directory
        self.in_memory = 0  # bytes charged for open in-memory spools (pages and overhead)
        self.lock = threading.Lock()

    def new(self, expected: int) -> IO[bytes]:
        """A spool for about ``expected`` bytes: in memory if the budget has that much room, else on disk."""
        reserved = max(1, expected)
        charged = charge(reserved)
        with self.lock:
            fits = self.in_memory + charged <= self.memory_bytes
            if fits:
                self.in_memory += charged
        if fits:
            return _MemorySpool(self, reserved, charged, self.directory)  # type: ignore[return-value]
        return tempfile.TemporaryFile(dir=self.directory)

    def memory_free(self) -> int:
        with self.lock:
            return self.memory_bytes - self.in_memory

    def disk_free(self) -> int:
        """Free bytes where disk spools go (asked of the file system each time)."""
        return shutil.disk_usage(self.directory or tempfile.gettempdir()).free

    def disk_total(self) -> int:
        """Size of the file system where disk spools go: what an invocation with nothing else on it could use."""
        return shutil.disk_usage(self.directory or tempfile.gettempdir()).total

    def capacity(self) -> int:
        """What spools could ever hold at once: the whole memory budget and the whole disk."""
        return self.memory_bytes + self.disk_total()

    def room(self) -> int:
        """Bytes that new spools can take now: memory left plus free disk."""
        return self.memory_free() + self.disk_free()

    def _give_back(self, charged: int) -> None:
        with self.lock:
            self.in_memory -= charged


def close_quietly(*files: Any) -> None:
    for f in files:
        if f is not None:
            try:
                f.close()
            except OSError:
                continue
