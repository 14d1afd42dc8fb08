"""An external party, simulated: realistic JSON files uploaded at a steady rate.

Files are JSON record batches of about 27 KB that compress about 2.5x, the
shape the design sizes for. Some keys carry spaces, unicode and ``+`` so the
S3 key encoding is exercised on every run.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()
_AWKWARD = ["with space", "plus+sign", "unicodé-данные", "mixed + ü & spaces"]


def realistic_file(rng: random.Random, target_bytes: int = 27_000) -> bytes:
    """JSON records: repeated field names, varied values; compresses about 2.5x with gzip -6."""
    records = []
    size = 2
    while size < target_bytes:
        record = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "account": f"AC{rng.randrange(10**9):09d}",
            "ts": f"2026-11-25T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
            f".{rng.randrange(1000):03d}Z",
            "amount": round(rng.uniform(0, 10_000), 2),
            "currency": rng.choice(["GBP", "EUR", "USD"]),
            "status": rng.choice(["settled", "pending", "reversed"]),
            "channel": rng.choice(["web", "branch", "mobile", "api"]),
            "memo": " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(3, 9))),
            "ref": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(16)),
            "sig": f"{rng.getrandbits(256):064x}",
        }
        line = json.dumps(record, separators=(",", ":"))
        records.append(line)
        size += len(line) + 1
    return ("[" + ",".join(records) + "]").encode()


def demo_key(rng: random.Random, sequence: int, prefix: str = "incoming") -> str:
    now = datetime.now(UTC)
    name = f"{now:%H%M%S}-{sequence:07d}.json"
    if sequence % 7 == 3:
        name = f"{rng.choice(_AWKWARD)} {sequence:07d}.json"
    return f"{prefix}/{now:%Y/%m/%d}/party-{sequence % 3}/{name}"


@dataclass
class UploadStats:
    uploaded: int = 0
    failed: int = 0
    bytes: int = 0
    keys: list[tuple[str, str]] = field(default_factory=list)  # (key, versionId or eTag)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Uploader:
    """Uploads at ``rate`` files/s until stopped (or ``duration`` seconds, or ``count`` files)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        rate: float,
        size: int = 27_000,
        prefix: str = "incoming",
        seed: int | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.rate = rate
        self.size = size
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.stats = UploadStats()
        self.stopping = threading.Event()
        self.on_error = on_error
        self.thread: threading.Thread | None = None

    def upload_one(self, sequence: int) -> None:
        key = demo_key(self.rng, sequence, self.prefix)
        body = realistic_file(self.rng, self.size)
        try:
            response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            with self.stats.lock:
                self.stats.failed += 1
            if self.on_error:
                self.on_error(exc)
            return
        revision = response.get("VersionId") or response.get("ETag", "").strip('"')
        with self.stats.lock:
            self.stats.uploaded += 1
            self.stats.bytes += len(body)
            self.stats.keys.append((key, revision))

    def run(self, duration: float | None = None, count: int | None = None) -> UploadStats:
        interval = 1.0 / self.rate
        start = time.monotonic()
        sequence = 0
        while not self.stopping.is_set():
            if count is not None and sequence >= count:
                break
            if duration is not None and time.monotonic() - start >= duration:
                break
            self.upload_one(sequence)
            sequence += 1
            # Pace against the schedule, not the last upload, so slow PUTs do not lower the rate.
            delay = start + sequence * interval - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
        return self.stats

    def start(self, duration: float | None = None, count: int | None = None) -> Uploader:
        self.thread = threading.Thread(target=self.run, args=(duration, count), name="uploader", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join(10)
