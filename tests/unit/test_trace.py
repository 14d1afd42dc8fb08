"""`courier trace`'s story from fakes: the ledger while it remembers, the archive index after, the DLQ."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from courier.events import ObjectIdentity
from courier.operator.backfill import notification
from courier.operator.trace import Verdict, trace
from courier.ports import ArchivedObject, Revision
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
        self.listed: list[str] = []
        self.reads: list[str] = []

    def keys(self, prefix: str) -> list[str]:
        self.listed.append(prefix)
        return sorted(k for k in self.objects if k.startswith(prefix))

    def read(self, key: str) -> bytes:
        self.reads.append(key)
        return self.objects[key]

    def head(self, key: str) -> ArchivedObject:
        return ArchivedObject(key=key, size=1, sha256="ab" * 32, storage_class=None, restore=None)

    def was_delivered(self, key: str) -> bool:
        return key in self.delivered


class DLQ:
    def __init__(self, *bodies: dict) -> None:
        self.messages = [{"MessageId": f"m{i}", "ReceiptHandle": f"h{i}", "Body": json.dumps(b)} for i, b in enumerate(bodies)]
        self.timeouts: list[int] = []

    def depth(self) -> tuple[int, int]:
        return len(self.messages), 0

    def receive(self, max_messages: int, visibility_timeout: int) -> list[dict]:
        self.timeouts.append(visibility_timeout)
        return self.messages[:max_messages]

    def make_visible(self, handles) -> None:
        pass


def revision(key: str = "in/a.csv", version: str = "v1", landed: datetime = T0) -> Revision:
    return Revision(key, version, 3, "etag", landed)


def index_line(key: str, version: str = "v1", bundle: str = BUNDLE) -> bytes:
    entry = {"bucket": BUCKET, "key": key, "version_id": version, "bundle_key": bundle}
    return (json.dumps(entry) + "\n" + json.dumps({**entry, "key": "other"}) + "\n").encode()


def partition(when: datetime, sha: str) -> tuple[str, str]:
    """(bundle key, index key) of a bundle whose newest file's event time is ``when``."""
    return f"bundles/{when:%Y/%m/%d/%H}/{sha * 32}.tar.gz", f"index/{when:%Y/%m/%d/%H}/{sha * 32}.jsonl"


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


def test_a_bundle_partitioned_a_day_after_landing_is_found_after_the_ledger_ttl():
    # An outage parked the message for hours: the bundle's partition is its newest file's event time, a day later.
    landed = T0 - timedelta(days=3)
    bundle, index = partition(landed + timedelta(hours=26), "cd")
    reader = Reader({index: index_line("in/a.csv", bundle=bundle)}, {bundle})
    story = trace(BUCKET, "in/a.csv", None, Lister(revision(landed=landed)), InMemoryLedger(), reader, "bundles", DLQ())
    assert story.verdict is Verdict.DELIVERED and [b.key for b in story.bundles] == [bundle]
    assert all(len(prefix) == len("index/YYYY/MM/DD/") for prefix in reader.listed)  # a day prefix a listing, not an hour


def test_revisions_weeks_apart_each_find_their_own_bundle_and_the_search_stops_there():
    old, new = T0 - timedelta(days=40), T0 - timedelta(days=2)
    old_bundle, old_index = partition(old + timedelta(hours=1), "01")
    new_bundle, new_index = partition(new + timedelta(hours=1), "02")
    _, between = partition(old + timedelta(days=20), "03")  # outside both revisions' windows
    _, later = partition(new + timedelta(hours=5), "04")  # inside the newest's window, after its bundle
    objects = {
        old_index: index_line("in/a.csv", "v1", old_bundle),
        new_index: index_line("in/a.csv", "v2", new_bundle),
        between: index_line("in/zzz.csv", "v9", "x"),
        later: index_line("in/zzz.csv", "v9", "y"),
    }
    reader = Reader(objects, {old_bundle, new_bundle})
    lister = Lister(revision(version="v2", landed=new), revision(version="v1", landed=old))
    story = trace(BUCKET, "in/a.csv", None, lister, InMemoryLedger(), reader, "bundles", DLQ())
    assert story.version == "v2" and story.verdict is Verdict.DELIVERED
    assert {b.key: b.versions for b in story.bundles} == {new_bundle: ("v2",), old_bundle: ("v1",)}
    assert between not in reader.reads and later not in reader.reads


def test_the_dlq_is_peeked_without_hiding_its_messages():
    dlq = DLQ(notification(BUCKET, revision("in/a.csv")), notification(BUCKET, revision("elsewhere")))
    story = trace(BUCKET, "in/a.csv", None, Lister(revision()), InMemoryLedger(), Reader({}, set()), "bundles", dlq)
    assert story.verdict is Verdict.FAILED and dlq.timeouts and set(dlq.timeouts) == {0}
    assert (story.dlq_seen, story.dlq_depth) == (2, 2)


def test_with_a_version_only_a_dlq_message_naming_that_revision_fails_it():
    dlq = DLQ(notification(BUCKET, revision(version="v1")))
    lister = Lister(revision(version="v2"), revision(version="v1"))
    asked = {v: trace(BUCKET, "in/a.csv", v, lister, InMemoryLedger(), Reader({}, set()), "bundles", dlq) for v in ("v1", "v2")}
    assert asked["v1"].verdict is Verdict.FAILED
    assert asked["v2"].verdict is Verdict.PENDING and asked["v2"].dead_letters == []


def test_unversioned_a_b_a_the_last_upload_is_pending_though_its_content_was_delivered_before():
    """A -> B -> A on an unversioned key: NiFi has the first A (same eTag) from before the third upload landed."""
    landed = T0 + timedelta(minutes=30)
    ledger = InMemoryLedger(clock=lambda: T0.timestamp())
    first_a = ObjectIdentity(BUCKET, "in/a.csv", "s:0A")
    ledger.claim(first_a, "t")
    ledger.complete([first_a], BUNDLE, "ab" * 32)
    line = {"bucket": BUCKET, "key": "in/a.csv", "version_id": None, "etag": "etag", "bundle_key": BUNDLE}
    reader = Reader({INDEX: (json.dumps({**line, "event_time": f"{T0:%Y-%m-%dT%H:%M:%S}.000000Z"}) + "\n").encode()}, {BUNDLE})
    third_a = Revision("in/a.csv", None, 3, "etag", landed)
    story = trace(BUCKET, "in/a.csv", None, Lister(third_a), ledger, reader, "bundles", DLQ())
    assert story.verdict is Verdict.PENDING

    def from_index() -> Verdict:
        return trace(BUCKET, "in/a.csv", None, Lister(third_a), InMemoryLedger(), reader, "bundles", DLQ()).verdict

    assert from_index() is Verdict.PENDING
    later_bundle, later_index = partition(landed, "cd")  # indexed in the hour of its newest file's event
    later = {**line, "bundle_key": later_bundle, "event_time": f"{landed:%Y-%m-%dT%H:%M:%S}.250000Z"}
    reader.objects[later_index] = (json.dumps(later) + "\n").encode()
    reader.delivered.add(later_bundle)
    assert from_index() is Verdict.DELIVERED


def test_a_key_nothing_names_never_landed():
    story = trace(BUCKET, "in/nobody.csv", None, Lister(revision()), InMemoryLedger(), Reader({}, set()), "bundles", DLQ())
    assert story.verdict is Verdict.NEVER_LANDED and story.as_dict()["verdict"] == "never landed"


def test_a_landed_revision_nobody_processed_is_not_delivered_yet_not_never_landed():
    story = trace(BUCKET, "in/a.csv", None, Lister(revision()), InMemoryLedger(), Reader({}, set()), "bundles", DLQ())
    assert story.verdict is Verdict.PENDING


def test_a_key_gone_from_the_bucket_but_known_to_the_ledger_did_land():
    ledger = InMemoryLedger()
    ledger.claim(ObjectIdentity(BUCKET, "in/a.csv", "v:v1"), "t")
    story = trace(BUCKET, "in/a.csv", None, Lister(), ledger, Reader({}, set()), "bundles", DLQ())
    assert story.verdict is Verdict.PENDING


def test_never_landed_needs_a_dlq_peek_that_saw_every_message():
    class Deep(DLQ):
        def depth(self) -> tuple[int, int]:
            return 5000, 0  # more than the peek can see: a message naming the key cannot be ruled out

    story = trace(BUCKET, "in/nobody.csv", None, Lister(), InMemoryLedger(), Reader({}, set()), "bundles", Deep())
    assert story.verdict is Verdict.PENDING


def test_never_landed_needs_no_dlq_message_in_flight_either():
    class Held(DLQ):
        def depth(self) -> tuple[int, int]:
            return 0, 1  # one message received by someone else (a redrive by hand): hidden from the peek

    story = trace(BUCKET, "in/nobody.csv", None, Lister(), InMemoryLedger(), Reader({}, set()), "bundles", Held())
    assert story.verdict is Verdict.PENDING
