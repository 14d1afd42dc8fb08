"""Deliver objects already in the landing bucket (``courier backfill``).

Backfill does not fetch or bundle anything itself: it announces each revision on
the main queue with the notification S3 would have sent, so the normal path
applies (the breaker and the DLQ work as for live traffic). What was already
delivered is left out: through the idempotency ledger while it remembers (its TTL),
and after that through the delivered tag earlier releases put on each delivered revision
in the landing bucket (today's aggregator writes none). Revisions come from ListObjectVersions or
an S3 Inventory report (``adapters.s3.S3LandingLister`` / ``read_inventory``).

Resuming: revisions are announced in key order (newest version of a key first, as
ListObjectVersions lists them), and a checkpoint file keeps the last one announced;
a rerun skips everything up to and including it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from courier.ledger.base import COMPLETE, BaseLedger, LedgerRecord
from courier.ports import Revision

BATCH = 10  # SendMessageBatch's limit
CHECKPOINT_FILE = "backfill-checkpoint.json"


def encode_key(key: str) -> str:
    """A key as S3 writes it into a notification: ``+`` for a space, ``%2B`` for a plus; ``events.decode_key`` inverts it."""
    return quote_plus(key, safe="/", encoding="utf-8")


def _iso_millis(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.astimezone(UTC).microsecond // 1000:03d}Z"


def notification(bucket: str, revision: Revision, region: str = "us-east-1") -> dict[str, Any]:
    """The S3 event notification (``ObjectCreated:Put``, eventVersion 2.1) S3 would have sent for ``revision``.

    The sequencer cannot be S3's own (it is not listed anywhere): :attr:`Revision.sequencer`
    stands in for it, and is the revision's identity on an unversioned bucket.
    """
    obj: dict[str, Any] = {
        "key": encode_key(revision.key),
        "size": revision.size,
        "eTag": revision.etag,
        "sequencer": revision.sequencer,
    }
    if revision.version_id:
        obj["versionId"] = revision.version_id
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _iso_millis(revision.last_modified),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "courier-backfill"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "courier-backfill", "x-amz-id-2": "courier-backfill"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "courier-backfill",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "courier-backfill"}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }
    return {"Records": [record]}


def in_range(revision: Revision, since: datetime | None, until: datetime | None) -> bool:
    """Whether the revision landed at or after ``since`` and at or before ``until`` (either may be open)."""
    return (since is None or revision.last_modified >= since) and (until is None or revision.last_modified <= until)


class Checkpoint:
    """The last revision a backfill announced, kept in a small JSON file so a rerun continues after it.

    Parameters
    ----------
    path
        The checkpoint file (created with its directory on the first save).

    Example
    -------
    >>> checkpoint = Checkpoint(Path(".courier") / CHECKPOINT_FILE)  # doctest: +SKIP
    >>> revisions = after(listing, checkpoint.load())  # doctest: +SKIP
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str | None] | None:
        if not self.path.exists():
            return None
        data = json.loads(self.path.read_text("utf-8"))
        return {"key": data["key"], "version_id": data.get("version_id")}

    def save(self, revision: Revision) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a side file and renamed: an interrupted save leaves the previous checkpoint, never half of one.
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(revision.mark), "utf-8")
        temporary.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def after(revisions: Iterable[Revision], mark: dict[str, str | None] | None) -> Iterator[Revision]:
    """The revisions that come after ``mark`` in key order (all of them without a mark).

    Keys before the mark's key are skipped, and the mark's key's versions up to and
    including the marked one; if that version has gone meanwhile, the key's remaining
    versions are announced again (the ledger keeps them from being delivered twice).
    """
    if mark is None:
        yield from revisions
        return
    passed = False
    for revision in revisions:
        if not passed and revision.key == mark["key"]:
            if revision.version_id == mark["version_id"]:
                passed = True
            continue
        if not passed and revision.key < str(mark["key"]):
            continue
        passed = True
        yield revision


@dataclass
class Tally:
    """What a backfill did: revisions listed, announced, and left out (out of range, already delivered).

    ``delivered`` counts the revisions the ledger records as delivered, ``tagged`` those it no
    longer knows (its TTL) that carry the landing bucket's delivered tag.
    """

    listed: int = 0
    enqueued: int = 0
    out_of_range: int = 0
    delivered: int = 0
    tagged: int = 0
    last: Revision | None = None
    errors: list[str] = field(default_factory=list)


def already_delivered(ledger: BaseLedger, bucket: str, revisions: Sequence[Revision]) -> set[Revision]:
    """The revisions the ledger records as delivered: one batched read per chunk for versioned ones.

    Only while the ledger remembers them (its TTL); older ones are announced and the
    aggregator's own claim skips them if they are still recorded. An unversioned revision
    is identified by S3's sequencer, which no listing shows: it is judged by
    :func:`delivered_unversioned` on the key's records (a query per key).
    """
    versioned = [r for r in revisions if r.version_id]
    found = ledger.records([r.identity(bucket) for r in versioned]) if versioned else {}
    done = {r for r in versioned if (rec := found.get(r.identity(bucket))) is not None and rec.status == COMPLETE}
    return done | {r for r in revisions if not r.version_id and delivered_unversioned(ledger.lookup(bucket, r.key), r)}


def delivered_unversioned(records: Iterable[LedgerRecord], revision: Revision) -> bool:
    """Whether the key's ledger records show its current, unversioned write delivered.

    On an unversioned key a GET reads the current write; the aggregator reads with
    If-Match on the eTag its event names, so a delivery completed at or after this write
    landed read this write's content (or failed). The one case it misses: a delivery
    whose GET ran just before the write landed and whose completion came after it
    (within one invocation's time); a backfill then leaves that write to its own event.
    """
    return any(r.status == COMPLETE and (r.completed_at or 0) >= revision.landed_second for r in records)


class RateLimit:
    """At most ``rate`` messages a second, as a token bucket holding one batch at most.

    The bucket refills at ``rate`` tokens a second up to ``burst``; a send takes one token
    a message and waits for the tokens it lacks. After a slow listing page the bucket holds
    no more than ``burst``, so the backfill never catches up in a burst on live traffic.

    Parameters
    ----------
    rate
        Messages per second (> 0).
    burst
        Tokens the bucket holds at most (default: one batch, ``BATCH``).
    clock, sleep
        Injected for tests.

    Example
    -------
    >>> limit = RateLimit(50)
    >>> limit.wait(10)  # returns at once for the first batch
    """

    def __init__(
        self,
        rate: float,
        burst: int = BATCH,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self.tokens = float(burst)
        self.last: float | None = None

    def wait(self, count: int) -> None:
        """Wait until the bucket holds ``count`` tokens, and take them."""
        now = self.clock()
        if self.last is not None:
            self.tokens = min(float(max(self.burst, count)), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < count:
            lacking = (count - self.tokens) / self.rate
            self.sleep(lacking)
            self.last = now + lacking  # the tokens that came in while sleeping are the ones taken
            self.tokens = float(count)
        self.tokens -= count


def backfill(
    revisions: Iterable[Revision],
    bucket: str,
    send_batch: Callable[[list[str]], None],
    since: datetime | None = None,
    until: datetime | None = None,
    checkpoint: Checkpoint | None = None,
    limit: RateLimit | None = None,
    ledger: BaseLedger | None = None,
    dry_run: bool = False,
    region: str = "us-east-1",
    progress: Callable[[Tally], None] = lambda tally: None,
    was_delivered: Callable[[Revision], bool] | None = None,
) -> Tally:
    """Announce every revision in range not already delivered, ten to a batch.

    Delivered means recorded so by the ledger (one batched read per batch), or else, with
    ``was_delivered`` (the landing bucket's delivered tag, a call per revision), tagged so.
    ``send_batch`` sends message bodies to the main queue; with ``dry_run`` nothing is
    sent and no checkpoint written. The checkpoint advances after each batch is sent.
    """
    tally = Tally()
    chunk: list[Revision] = []

    def flush() -> None:
        delivered = already_delivered(ledger, bucket, chunk) if ledger is not None else set()
        tally.delivered += len(delivered)
        todo = [r for r in chunk if r not in delivered]
        if was_delivered is not None:
            tagged = [r for r in todo if was_delivered(r)]
            tally.tagged += len(tagged)
            todo = [r for r in todo if r not in tagged]
        if todo and not dry_run:
            if limit is not None:
                limit.wait(len(todo))
            send_batch([json.dumps(notification(bucket, r, region)) for r in todo])
        tally.enqueued += len(todo)
        tally.last = chunk[-1]
        if checkpoint is not None and not dry_run:
            checkpoint.save(chunk[-1])
        chunk.clear()
        progress(tally)

    for revision in revisions:
        tally.listed += 1
        if not in_range(revision, since, until):
            tally.out_of_range += 1
            progress(tally)
            continue
        chunk.append(revision)
        if len(chunk) == BATCH:
            flush()
    if chunk:
        flush()
    return tally
