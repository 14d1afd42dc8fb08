"""The streaming bundle writer: the same bytes as the in-memory build, hashed in the same pass, from any source."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courier.bundle import COMPRESS_BLOCK, FetchedFile, GzipWriter, SpooledFile, build_bundle, copy_hashing, write_bundle
from courier.events import ObjectRef
from courier.spool import Spools

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def content(seed: int, size: int) -> bytes:
    """Half repetitive, half random: some of it compresses, some does not."""
    rng = random.Random(seed)
    return (rng.randbytes(64) * (size // 128 + 1))[: size // 2] + rng.randbytes(size - size // 2)


def ref(key: str, size: int, offset: int = 0) -> ObjectRef:
    return ObjectRef("landing", key, f"v-{key}", "etag", None, size, T0 + timedelta(seconds=offset), "ObjectCreated:Put")


class Trickle:
    """A body that gives at most ``most`` bytes per read, as a network stream may."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.at = data, most, 0

    def read(self, n: int = -1) -> bytes:
        n = self.most if n < 0 else min(n, self.most)
        chunk = self.data[self.at : self.at + n]
        self.at += len(chunk)
        return chunk


files_strategy = st.lists(
    st.tuples(st.integers(0, 2**32), st.sampled_from([0, 1, 511, 512, 513, 70_000, COMPRESS_BLOCK + 7, 3 * COMPRESS_BLOCK])),
    min_size=1,
    max_size=4,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=files_strategy, memory=st.sampled_from([0, 100_000, 64 * 2**20]), most=st.sampled_from([1000, 65536, 10**9]))
def test_streaming_through_spools_gives_the_bytes_of_the_in_memory_build(files, memory, most):
    contents = {f"k{i}/{seed}.bin": content(seed, size) for i, (seed, size) in enumerate(files)}
    in_memory = build_bundle([FetchedFile(ref(k, len(c), i), c, f"v-{k}", "etag") for i, (k, c) in enumerate(contents.items())])

    spools = Spools(memory_bytes=memory)  # 0: every spool on disk
    spooled = []
    for i, (key, data) in enumerate(contents.items()):
        body = spools.new(len(data))
        size, sha256 = copy_hashing(Trickle(data, most), body)
        spooled.append(SpooledFile(ref(key, size, i), body, size, sha256, f"v-{key}", "etag"))
    out = spools.new(in_memory.size)
    streamed = write_bundle(list(reversed(spooled)), out)

    assert streamed.data == in_memory.data and streamed.sha256 == in_memory.sha256
    assert streamed.manifest == in_memory.manifest and streamed.bundle_id == in_memory.bundle_id
    for body in [*(f.body for f in spooled), out]:
        body.close()
    assert spools.in_memory == 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.sampled_from([0, 10, COMPRESS_BLOCK - 1, COMPRESS_BLOCK, 2 * COMPRESS_BLOCK + 3]))
def test_the_hashes_counted_in_the_pass_equal_hashlib_over_the_bytes(seed, size):
    data = content(seed, size)
    copied = io.BytesIO()
    assert copy_hashing(io.BytesIO(data), copied) == (size, hashlib.sha256(data).hexdigest())
    out = io.BytesIO()
    bundle = write_bundle([SpooledFile(ref("k", size), copied, size, hashlib.sha256(data).hexdigest(), "v", "e")], out)
    assert bundle.sha256 == hashlib.sha256(out.getvalue()).hexdigest() and bundle.size == len(out.getvalue())
    assert bundle.manifest["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(1, 3 * COMPRESS_BLOCK), min_size=1, max_size=6))
def test_the_gzip_bytes_do_not_depend_on_how_the_writes_were_cut(seed, cuts):
    data = content(seed, sum(cuts))
    whole, pieces = io.BytesIO(), io.BytesIO()
    single, writer = GzipWriter(whole), GzipWriter(pieces)
    single.write(data)
    at = 0
    for cut in cuts:
        writer.write(data[at : at + cut])
        at += cut
    assert single.finish() == writer.finish()
    assert whole.getvalue() == pieces.getvalue() and gzip.decompress(pieces.getvalue()) == data


def test_a_body_shorter_than_its_size_is_refused():
    data = b"only ten b"
    short = SpooledFile(ref("k", 20), io.BytesIO(data), 20, hashlib.sha256(data).hexdigest(), "v", "e")
    with pytest.raises(ValueError, match="short"):
        write_bundle([short], io.BytesIO())


class Stop(Exception):
    pass


def stop_after(calls: int) -> Any:
    """A ``check`` that lets ``calls`` chunks through, then stops the pass (as a deadline does)."""
    count = {"n": 0}

    def check() -> None:
        count["n"] += 1
        if count["n"] > calls:
            raise Stop

    return check


def test_a_copy_stops_between_chunks_when_its_check_says_so():
    source = io.BytesIO(bytes(10_000))
    out = io.BytesIO()
    with pytest.raises(Stop):
        copy_hashing(source, out, chunk=1000, check=stop_after(3))
    assert out.tell() == 3000  # three chunks copied, no more


def test_a_bundle_build_stops_between_compressed_blocks_when_its_check_says_so():
    data = content(7, 3 * COMPRESS_BLOCK)
    f = FetchedFile(ref("big.bin", len(data)), data, "v", "e")
    with pytest.raises(Stop):
        write_bundle([f], io.BytesIO(), check=stop_after(1))
    # and without a stop the check changes nothing
    assert write_bundle([f], io.BytesIO(), check=stop_after(100)).sha256 == build_bundle([f]).sha256
