"""Build deterministic gzip-compressed tar bundles with a manifest (pure).

The same set of files always gives byte-identical bytes, hence the same
SHA-256 and the same archive key: members are sorted, every tar header field
that could vary (mtime, uid, gid, owner names, mode) is fixed, the gzip header
carries mtime 0 and no file name, and the manifest holds no wall-clock time
other than what the S3 events say.

Bundles are written as a stream (:func:`write_bundle`): each file is read from
a file-like object in chunks, the tar goes through the compressor in blocks of
a fixed size and the gzip bytes are hashed as they are written, so a bundle of
any size takes constant memory besides where its bytes go (a spool: memory,
then disk). The compressor is fed fixed-size blocks whatever the reads
returned, because deflate's output depends on how its input is split: fixed
blocks keep the bytes the same for the same files.

The streaming passes take an optional ``check`` (a callable) that they call
between chunks: the aggregator's raises ``TimeBudgetError`` when the
invocation's time runs short, so a pass over a large file stops in time for
the claims to be released and the outcome recorded.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import IO, Any, Protocol, TypeVar

from isal import isal_zlib

from courier.events import ObjectIdentity, ObjectRef, parse_event_time
from courier.member_names import member_name, unique_names

T = TypeVar("T")
B = TypeVar("B", bound="BundleInput")

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "courier-bundle/1"
GZIP_LEVEL = 2  # ISA-L levels are 0-3
COMPRESS_BLOCK = 1 << 20  # what the compressor is fed at a time, always (see the module docstring)
CHUNK = 256 * 1024  # reads and copies of file bodies
# RFC 1952 header: magic, deflate, no flags (no name), mtime 0, XFL 0, OS unknown (255), as ISA-L writes it.
_GZIP_HEADER = struct.pack("<BBBBLBB", 0x1F, 0x8B, 8, 0, 0, 0, 255)
_BUNDLE_NAMESPACE = uuid.UUID("5f0c3c1e-8c57-4d55-9a57-6f1d3c0b2a11")


@dataclass(frozen=True)
class FetchedFile:
    """A landed file's bytes and what S3 said about it when we fetched it."""

    ref: ObjectRef
    content: bytes
    version_id: str | None
    etag: str | None

    @property
    def identity(self) -> ObjectIdentity:
        return self.ref.identity

    @property
    def size(self) -> int:
        return len(self.content)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.content)


@dataclass(frozen=True)
class SpooledFile:
    """A landed file copied into a spool as it was fetched, with the size and SHA-256 counted on the way.

    ``body`` is any seekable binary file (a ``SpooledTemporaryFile``, a ``BytesIO``); :meth:`open` rewinds it.
    """

    ref: ObjectRef
    body: IO[bytes]
    size: int
    sha256: str
    version_id: str | None
    etag: str | None

    @property
    def identity(self) -> ObjectIdentity:
        return self.ref.identity

    def open(self) -> IO[bytes]:
        self.body.seek(0)
        return self.body


class BundleInput(Protocol):
    """What :func:`write_bundle` needs of a file: its event, size, SHA-256, S3's ids, and its bytes from the start."""

    @property
    def ref(self) -> ObjectRef: ...

    @property
    def identity(self) -> ObjectIdentity: ...

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    @property
    def version_id(self) -> str | None: ...

    @property
    def etag(self) -> str | None: ...

    def open(self) -> IO[bytes]: ...


class Body:
    """A bundle's exact bytes, in memory or in a spool file, readable from the start as often as needed.

    Parameters
    ----------
    file
        A seekable binary file holding the bytes from offset 0.
    size
        How many bytes it holds.

    Example
    -------
    >>> body = Body.of(b"abc")
    >>> b"".join(body.chunks(2)), body.size
    (b'abc', 3)
    """

    def __init__(self, file: IO[bytes], size: int) -> None:
        self.file = file
        self.size = size

    @classmethod
    def of(cls, data: bytes) -> Body:
        return cls(io.BytesIO(data), len(data))

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes from the start, ``size`` at a time (a fresh pass every call)."""
        self.file.seek(0)
        while chunk := self.file.read(size):
            yield chunk

    def reader(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file

    def read(self) -> bytes:
        """All of it in memory: for small bundles and tests only."""
        return b"".join(self.chunks())

    def sha256(self) -> str:
        """Hash the bytes again (a pass over them): to tell our own corruption from the network's."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class Bundle:
    bundle_id: str
    created_at: datetime
    body: Body  # the exact gzip bytes that are archived and POSTed
    sha256: str  # lowercase hex of the body
    manifest: dict[str, Any]
    identities: tuple[ObjectIdentity, ...]
    raw_bytes: int  # sum of file sizes

    @property
    def file_count(self) -> int:
        return len(self.identities)

    @property
    def size(self) -> int:
        """Bytes of the gzip body (what is archived and POSTed)."""
        return self.body.size

    @property
    def data(self) -> bytes:
        """The body in memory: small bundles (probes, tests, benchmarks) only; the pipeline streams :attr:`body`."""
        return self.body.read()


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bundle_id_for(identities: Iterable[ObjectIdentity]) -> str:
    """A UUID derived from the set of files, so a rebuilt bundle keeps its id."""
    text = "\n".join(f"{i.bucket}\x00{i.key}\x00{i.revision}" for i in sorted(identities))
    return str(uuid.uuid5(_BUNDLE_NAMESPACE, text))


def plan_bundles(files: Sequence[B], max_bytes: int) -> list[list[B]]:
    """Split files into groups of at most ``max_bytes`` file bytes, in a fixed order; a bigger file stands alone."""
    return plan_by_size(files, lambda f: f.size, lambda f: f.identity, max_bytes)


def plan_by_size(items: Iterable[T], size_of: Callable[[T], int], order: Callable[[T], Any], max_bytes: int) -> list[list[T]]:
    """Greedy groups of at most ``max_bytes`` (by ``size_of``), in ``order``; an item above the limit stands alone."""
    groups: list[list[T]] = []
    current: list[T] = []
    current_bytes = 0
    for item in sorted(items, key=order):
        size = size_of(item)
        if current and current_bytes + size > max_bytes:
            groups.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        groups.append(current)
    return groups


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def build_manifest(bundle_id: str, created_at: datetime, entries: Sequence[tuple[str, BundleInput, str]]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "bundle_id": bundle_id,
        "created_at": _iso(created_at),
        "file_count": len(entries),
        "total_bytes": sum(f.size for _, f, _ in entries),
        "files": [
            {
                "member": name,
                "bucket": f.ref.bucket,
                "key": f.ref.key,
                "revision": f.identity.revision,
                "version_id": f.version_id,
                "etag": f.etag,
                "size": f.size,
                "sha256": digest,
                "event_time": _iso(f.ref.event_time),
            }
            for name, f, digest in entries
        ],
    }


Check = Callable[[], None]  # called between chunks of a streaming pass; raises to stop it


def build_bundle(files: Sequence[BundleInput]) -> Bundle:
    """Tar + manifest + gzip + SHA-256 of one group of files, in memory (:func:`write_bundle` into a ``BytesIO``)."""
    out = io.BytesIO()
    return write_bundle(files, out)


def write_bundle(files: Sequence[BundleInput], out: IO[bytes], check: Check | None = None) -> Bundle:
    """Write the bundle of ``files`` to ``out`` in one pass, hashing the gzip bytes on the way; its body is ``out``.

    Memory stays constant whatever the sizes: file bodies are copied in chunks,
    the compressor takes fixed blocks. Each file must give at least ``size``
    bytes (a shorter body is a ``ValueError``: the tar header already said
    ``size``); callers count ``size`` as they spool. ``check`` is called after
    every compressed block (see the module docstring).
    """
    if not files:
        raise ValueError("a bundle needs at least one file")
    ordered = sorted(files, key=lambda f: (member_name(f.ref.bucket, f.ref.key), f.identity))
    names = unique_names([(member_name(f.ref.bucket, f.ref.key), f.identity.revision) for f in ordered])
    entries = [(name, f, f.sha256) for name, f in zip(names, ordered, strict=True)]
    identities = tuple(sorted(f.identity for f in ordered))
    bundle_id = bundle_id_for(identities)
    created_at = max(f.ref.event_time for f in ordered)
    manifest = build_manifest(bundle_id, created_at, entries)
    manifest_bytes = json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    gz = GzipWriter(out, check=check)
    with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        tar.addfile(_tarinfo(MANIFEST_NAME, len(manifest_bytes)), io.BytesIO(manifest_bytes))
        for name, f, _ in entries:
            tar.addfile(_tarinfo(name, f.size), _Exactly(f.open(), f.size, name))
    sha256, size = gz.finish()
    return Bundle(
        bundle_id=bundle_id,
        created_at=created_at,
        body=Body(out, size),
        sha256=sha256,
        manifest=manifest,
        identities=identities,
        raw_bytes=sum(f.size for f in ordered),
    )


class _Exactly:
    """A file body that must give exactly ``size`` bytes to the tar (which reads ``size`` and pads)."""

    def __init__(self, file: IO[bytes], size: int, name: str) -> None:
        self.file, self.left, self.name = file, size, name

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.file.read(n) if n else b""
        while len(data) < n:  # a stream may give less than asked before its end
            more = self.file.read(n - len(data))
            if not more:
                raise ValueError(f"{self.name}: the body ended {self.left - len(data)} bytes short of its size")
            data += more
        self.left -= len(data)
        return data


class GzipWriter:
    """A write-only file that gzips what it is given into ``out``, in fixed blocks, hashing the output.

    ``tell()`` is the uncompressed offset (what ``tarfile`` asks). :meth:`finish`
    flushes, writes the trailer and returns the SHA-256 (hex) and size of the
    gzip bytes; ``out`` is not closed.
    """

    def __init__(self, out: IO[bytes], level: int = GZIP_LEVEL, check: Check | None = None) -> None:
        self.out = out
        self.check = check
        self.digest = hashlib.sha256()
        self.written = 0
        self.offset = 0
        self.crc = 0
        self.pending = bytearray()
        self.compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
        self._emit(_GZIP_HEADER)

    def _emit(self, data: bytes) -> None:
        if data:
            self.digest.update(data)
            self.out.write(data)
            self.written += len(data)

    def write(self, data: bytes) -> int:
        self.pending += data
        self.offset += len(data)
        while len(self.pending) >= COMPRESS_BLOCK:
            block = bytes(self.pending[:COMPRESS_BLOCK])
            del self.pending[:COMPRESS_BLOCK]
            self.crc = isal_zlib.crc32(block, self.crc)
            self._emit(self.compressor.compress(block))
            if self.check is not None:
                self.check()
        return len(data)

    def tell(self) -> int:
        return self.offset

    def finish(self) -> tuple[str, int]:
        if self.pending:
            self.crc = isal_zlib.crc32(self.pending, self.crc)
            self._emit(self.compressor.compress(bytes(self.pending)))
            self.pending.clear()
        self._emit(self.compressor.flush())
        self._emit(struct.pack("<LL", self.crc, self.offset & 0xFFFFFFFF))
        return self.digest.hexdigest(), self.written


def copy_hashing(source: Any, out: IO[bytes], chunk: int = CHUNK, check: Check | None = None) -> tuple[int, str]:
    """Copy ``source`` (anything with ``read(n)``) to ``out``; return the bytes copied and their SHA-256 (hex).

    ``check`` is called before every chunk (see the module docstring).
    """
    digest = hashlib.sha256()
    size = 0
    while True:
        if check is not None:
            check()
        data = source.read(chunk)
        if not data:
            break
        digest.update(data)
        out.write(data)
        size += len(data)
    return size, digest.hexdigest()


def gzip_deterministic(data: bytes) -> bytes:
    """Standard gzip (RFC 1952) with mtime 0 and no file name in the header, compressed as bundles are.

    ISA-L's deflate at level 2 is ~15x faster than GNU ``gzip -6`` on courier's
    data for about 4% more bytes (``make bench``); its output is ordinary gzip that
    Python, GNU gzip and NiFi decompress.
    """
    out = io.BytesIO()
    gz = GzipWriter(out)
    gz.write(data)
    gz.finish()
    return out.getvalue()


def archive_key(prefix: str, bundle: Bundle) -> str:
    """Time-partitioned (by the bundle's event time) and content-addressed."""
    return f"{prefix}/{bundle.created_at:%Y/%m/%d/%H}/{bundle.sha256}.tar.gz"


INDEX_PREFIX = "index"


def index_key(bundle: Bundle) -> str:
    """Where the bundle's lines of the archive index go: same hour partition as the bundle.

    The index stays in a storage class that can be read at once (only ``bundles/``
    moves to Deep Archive), so ``courier replay --file`` finds a file's bundle
    long after the 7-day ledger forgot it.
    """
    return f"{INDEX_PREFIX}/{bundle.created_at:%Y/%m/%d/%H}/{bundle.sha256}.jsonl"


def index_lines(bundle: Bundle, key: str) -> bytes:
    lines = [
        json.dumps(
            {
                "bucket": entry["bucket"],
                "key": entry["key"],
                "version_id": entry["version_id"],
                "etag": entry["etag"],
                "sha256": entry["sha256"],
                "event_time": entry["event_time"],
                "bundle_key": key,
                "bundle_sha256": bundle.sha256,
                "bundle_id": bundle.bundle_id,
            },
            ensure_ascii=True,  # a key's U+2028/U+0085 stays "\u2028": one line whatever splits it
            sort_keys=True,
        )
        for entry in bundle.manifest["files"]
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


_INDEX_FIELDS = ("bucket", "key", "bundle_key")


@dataclass(frozen=True)
class IndexFile:
    """The lines of one index file that parse (``entries``), and a note naming each that does not (``unreadable``)."""

    entries: list[dict[str, Any]]
    unreadable: list[str]


def read_index(data: bytes, index_key: str) -> IndexFile:
    """Parse an index file line by line, split on ``\\n`` only (not ``str.splitlines``: U+2028 is no line end here).

    A line that is not a JSON object with string ``bucket``, ``key`` and
    ``bundle_key`` is skipped and named (its key, line number and first bytes,
    escaped) rather than failing the lookup for every other file of the hour.
    """
    entries, unreadable = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            entry = None
        if isinstance(entry, dict) and all(isinstance(entry.get(f), str) for f in _INDEX_FIELDS):
            entries.append(entry)
        else:
            unreadable.append(f"{index_key} line {number}: {raw[:80]!r}")
    return IndexFile(entries, unreadable)


def read_manifest(data: bytes | IO[bytes]) -> dict[str, Any]:
    """The manifest of a courier bundle (bytes, or a binary file read from where it stands; only the
    first member is decompressed); ValueError (or a tarfile/OSError) when it is not one."""
    fileobj = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    with tarfile.open(fileobj=fileobj, mode="r|gz") as tar:
        first = tar.next()
        member = tar.extractfile(first) if first is not None and first.name == MANIFEST_NAME else None
        if member is None:
            raise ValueError("bundle has no manifest")
        manifest = json.load(member)
    if not isinstance(manifest, dict):
        raise ValueError("bundle manifest is not a JSON object")
    return manifest


def manifest_files(data: bytes | IO[bytes]) -> list[dict[str, Any]]:
    """The manifest's file entries of a courier bundle; [] for anything else."""
    try:
        return list(read_manifest(data)["files"])
    except (tarfile.TarError, OSError, KeyError, ValueError, TypeError):
        return []


def bundle_from_archive(body: Body, sha256: str) -> Bundle:
    """The bundle an archived object holds (``sha256``: of ``body``, counted as it was read), to resend it byte for
    byte (ValueError if it is not one)."""
    manifest = read_manifest(body.reader())
    try:
        identities = tuple(sorted(ObjectIdentity(f["bucket"], f["key"], f["revision"]) for f in manifest["files"]))
        return Bundle(
            bundle_id=str(manifest["bundle_id"]),
            created_at=parse_event_time(manifest["created_at"]),
            body=body,
            sha256=sha256,
            manifest=manifest,
            identities=identities,
            raw_bytes=int(manifest["total_bytes"]),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"bundle manifest lacks {exc}") from None


PROBE_ARCHIVE_KEY = "probe"  # canaries are never archived


def probe_bundle(at: datetime) -> Bundle:
    """A canary: a real tar.gz with only a manifest that says it is a probe, so NiFi checks it like any bundle.

    The breaker controller POSTs it (with ``X-Courier-Probe: true``) to see whether
    delivery works again; NiFi's flow answers and drops it.
    """
    bundle_id = str(uuid.uuid5(_BUNDLE_NAMESPACE, f"probe\x00{_iso(at)}"))
    manifest = {
        "format": MANIFEST_FORMAT,
        "probe": True,
        "bundle_id": bundle_id,
        "created_at": _iso(at),
        "file_count": 0,
        "total_bytes": 0,
        "files": [],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_tarinfo(MANIFEST_NAME, len(manifest_bytes)), io.BytesIO(manifest_bytes))
    data = gzip_deterministic(raw.getvalue())
    return Bundle(bundle_id, at, Body.of(data), hashlib.sha256(data).hexdigest(), manifest, (), 0)
