"""`courier trace`'s story from fakes: the ledger while it remembers, the archive index after, the DLQ."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from courier.backfill import Revision, notification
from courier.ports import ArchivedObject
from courier.trace import Verdict, trace
from fakes import InMemoryLedger

BUCKET = "courier-landing"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
BUNDLE = f"bundles/{T0:%Y/%m/%d/%H}/{'ab' * 32}.tar.gz"
INDEX = f"index/{T0:%Y/%m/%d/%H}/{'ab' * 32}.jsonl"


class Lister:
    def __init__(self, *revisions: Revision) -> None:
        self.revisions = list(revisions)

    def of_key(self, key: str) -> list[Revision]:
        return [r for r in self.revisions if r.key == key]


class Reader:
    def __init__(self, objects: dict[str, bytes], delivered: set[str]) -> None:
        self.objects, self.delivered = objects, delivered

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def read(self, key: str) -> bytes:
        return self.objects[key]

    def head(self, key: str) -> ArchivedObject:
        return ArchivedObject(key=key, size=1, sha256="ab" * 32, storage_class=None, restore=None)

    def was_delivered(self, key: str) -> bool:
        return key in self.delivered


class DLQ:
    def __init__(self, *bodies: dict) -> None:
        self.messages = [{"MessageId": f"m{i}", "ReceiptHandle": f"h{i}", "Body": json.dumps(b)} for i, b in enumerate(bodies)]

    def receive(self, max_messages: int, visibility_timeout: int) -> list[dict]:
        return self.messages[:max_messages]

    def make_visible(self, handles) -> None:
        pass


def revision(key: str = "in/a.csv", version: str = "v1") -> Revision:
    return Revision(key, version, 3, "etag", T0)


def index_line(key: str, version: str = "v1") -> bytes:
    entry = {"bucket": BUCKET, "key": key, "version_id": version, "bundle_key": BUNDLE}
    return (json.dumps(entry) + "\n" + json.dumps({**entry, "key": "other"}) + "\n").encode()


def test_delivered_through_the_ledger():
    ledger = InMemoryLedger()
    ledger.complete([revision().identity(BUCKET)], BUNDLE, "ab" * 32)
    reader = Reader({INDEX: index_line("in/a.csv")}, {BUNDLE})
    story = trace(BUCKET, "in/a.csv", None, Lister(revision()), ledger, reader, "bundles", DLQ())
    assert story.verdict is Verdict.DELIVERED and story.found_through == "ledger"
    (bundle,) = story.bundles
    assert (bundle.key, bundle.file_count, bundle.delivered) == (BUNDLE, 2, True) and bundle.delivered_at
    assert story.as_dict()["ledger"][0]["status"] == "COMPLETE"


def test_after_the_ledger_ttl_the_archive_index_tells():
    reader = Reader({INDEX: index_line("in/a.csv")}, {BUNDLE})
    story = trace(BUCKET, "in/a.csv", None, Lister(revision()), InMemoryLedger(), reader, "bundles", DLQ())
    assert story.verdict is Verdict.DELIVERED and story.found_through == "archive index"
    assert story.bundles[0].versions == ("v1",)


def test_an_archived_bundle_nifi_never_acknowledged_is_not_delivered():
    reader = Reader({INDEX: index_line("in/a.csv")}, set())
    story = trace(BUCKET, "in/a.csv", None, Lister(revision()), InMemoryLedger(), reader, "bundles", DLQ())
    assert story.verdict is Verdict.PENDING and story.bundles[0].delivered is False


def test_a_newer_revision_not_yet_delivered_is_pending():
    ledger = InMemoryLedger()
    ledger.complete([revision(version="v1").identity(BUCKET)], BUNDLE, "ab" * 32)
    lister = Lister(revision(version="v2"), revision(version="v1"))
    story = trace(BUCKET, "in/a.csv", None, lister, ledger, Reader({}, {BUNDLE}), "bundles", DLQ())
    assert story.version == "v2" and story.verdict is Verdict.PENDING
    assert trace(BUCKET, "in/a.csv", "v1", lister, ledger, Reader({}, {BUNDLE}), "bundles", DLQ()).verdict is Verdict.DELIVERED


def test_two_revisions_in_one_bundle_both_count():
    ledger = InMemoryLedger()
    ledger.complete([revision(version="v2").identity(BUCKET), revision(version="v1").identity(BUCKET)], BUNDLE, "ab" * 32)
    lister = Lister(revision(version="v2"), revision(version="v1"))
    for version in ("v1", "v2", None):
        story = trace(BUCKET, "in/a.csv", version, lister, ledger, Reader({}, {BUNDLE}), "bundles", DLQ())
        assert story.verdict is Verdict.DELIVERED and len(story.bundles) == 1


def test_a_message_naming_the_file_in_the_dlq_is_failed():
    dlq = DLQ(notification(BUCKET, revision("in/b c.csv")), notification(BUCKET, revision("elsewhere")))
    story = trace(BUCKET, "in/b c.csv", None, Lister(), InMemoryLedger(), Reader({}, set()), "bundles", dlq)
    assert story.verdict is Verdict.FAILED and [d.message_id for d in story.dead_letters] == ["m0"]
    assert "not recorded" in story.as_dict()["replays"]
