"""Spools: memory while the budget has room (a memory map, given back when closed), disk beyond it."""

from __future__ import annotations

import io

from courier.spool import PAGE_BYTES, SPOOL_OVERHEAD_BYTES, Spools, charge


def test_a_spool_in_memory_keeps_its_reservation_until_closed():
    budget = 2 * charge(600) - 1
    spools = Spools(memory_bytes=budget)
    first, second = spools.new(600), spools.new(600)  # the second does not fit beside the first: disk
    assert spools.in_memory == charge(600) and hasattr(first, "on_disk") and not hasattr(second, "on_disk")
    first.close()
    second.close()
    assert spools.in_memory == 0 and spools.memory_free() == budget


def test_a_spool_is_charged_its_whole_pages_and_its_overhead_not_its_bytes():
    assert charge(1) == charge(100) == PAGE_BYTES + SPOOL_OVERHEAD_BYTES
    assert charge(PAGE_BYTES + 1) == 2 * PAGE_BYTES + SPOOL_OVERHEAD_BYTES


def test_ten_thousand_tiny_spools_are_held_to_the_budget_by_the_pages_they_take():
    """Issue 21, case 11: 10,000 spools of 100 bytes counted 0.95 MiB while the kernel charged 43 MiB."""
    budget = 8 << 20
    spools = Spools(memory_bytes=budget)
    opened = [spools.new(100) for _ in range(10_000)]
    try:
        in_memory = [s for s in opened if hasattr(s, "on_disk") and not s.on_disk]
        assert len(in_memory) * PAGE_BYTES <= spools.in_memory <= budget
        assert len(in_memory) == budget // charge(100) < len(opened)  # the rest went to disk
    finally:
        for spool in opened:
            spool.close()
    assert spools.in_memory == 0


def test_a_spool_that_outgrows_its_reservation_moves_to_disk_with_its_bytes_and_gives_the_memory_back():
    spools = Spools(memory_bytes=1 << 20)
    spool = spools.new(10)
    spool.write(b"0123456789")
    spool.seek(4)
    spool.write(b"ab")  # overwrite inside the reservation
    spool.seek(0, io.SEEK_END)
    spool.write(b"more than the ten bytes it asked for")
    assert spool.on_disk and spools.in_memory == 0
    spool.seek(0)
    assert spool.read() == b"0123ab6789more than the ten bytes it asked for"
    spool.close()


def test_reads_stop_at_what_was_written_not_at_the_reservation():
    spools = Spools(memory_bytes=1 << 20)
    spool = spools.new(1000)
    spool.write(b"abc")
    spool.seek(0)
    assert spool.read(100) == b"abc" and spool.read(100) == b""
    spool.seek(0)
    assert spool.read() == b"abc"
    spool.close()
    assert spools.in_memory == 0


def test_a_spool_moving_to_disk_copies_its_bytes_in_chunks_not_as_one_copy(monkeypatch):
    from courier import spool as spool_module

    monkeypatch.setattr(spool_module, "ROLLOVER_CHUNK", 4)
    written: list[int] = []
    real = spool_module.tempfile.TemporaryFile

    def recording(*args, **kwargs):
        disk = real(*args, **kwargs)

        class Recording:
            def write(self, data):
                written.append(len(data))
                return disk.write(data)

            def __getattr__(self, name):
                return getattr(disk, name)

        return Recording()

    monkeypatch.setattr(spool_module.tempfile, "TemporaryFile", recording)
    spools = Spools(memory_bytes=1 << 20)
    spool = spools.new(10)
    spool.write(b"0123456789")
    spool.write(b"!")  # past the reservation: to disk
    assert written[:3] == [4, 4, 2]  # the ten bytes in memory, four at a time
    spool.seek(0)
    assert spool.read() == b"0123456789!"
    spool.close()
