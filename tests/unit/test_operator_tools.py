"""The operator tools' domain (replay selection and outcomes, redrive, status) against in-memory ports."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from courier.bundle import Body, SpooledFile, build_bundle
from courier.errors import BundleMissingError
from courier.events import ObjectIdentity, ObjectRef
from courier.ledger.base import COMPLETE, LedgerRecord
from courier.operator.dlq import redrive
from courier.operator.replay import (
    BundleResult,
    Outcome,
    Replayer,
    SourceFile,
    Tally,
    restore_state,
    select_bundles,
    time_range,
    verify_bundle,
)
from courier.operator.status import LocalSources, StatusSources, breaker_state, gather
from courier.ports import ArchivedObject, ObjectStream, Purpose
from courier.spool import Spools

T0 = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def bundle_key(hour: datetime, name: str) -> str:
    return f"bundles/{hour:%Y/%m/%d/%H}/{name}.tar.gz"


@dataclass
class MemoryArchive:
    """An ArchiveReader over a dict: key -> (bytes, storage class)."""

    objects: dict[str, bytes] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)
    cold: set[str] = field(default_factory=set)
    restored: list[tuple[str, int, str]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # read whole
    opened: list[str] = field(default_factory=list)  # streamed

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def count(self, prefix: str) -> int:
        return len(self.keys(prefix))

    def head(self, key: str) -> ArchivedObject:
        if key not in self.objects:
            raise BundleMissingError(key)
        data = self.objects[key]
        return ArchivedObject(key, len(data), hashlib.sha256(data).hexdigest(), "DEEP_ARCHIVE" if key in self.cold else None)

    def read(self, key: str) -> bytes:
        self.reads.append(key)
        return self.objects[key]

    def open(self, key: str) -> ObjectStream:
        self.opened.append(key)
        return ObjectStream(len(self.objects[key]), io.BytesIO(self.objects[key]))

    def restore(self, key: str, days: int, tier: str) -> None:
        self.restored.append((key, days, tier))

    def was_delivered(self, key: str) -> bool:
        return key in self.delivered

    def stored_sha256(self, key: str) -> str | None:
        return hashlib.sha256(self.objects[key]).hexdigest()


class LedgerOf:
    def __init__(self, *bundle_keys: str) -> None:
        self.bundle_keys = bundle_keys

    def lookup(self, bucket: str, key: str) -> list[LedgerRecord]:
        identity = ObjectIdentity(bucket, key, "e:1")
        return [LedgerRecord(identity, COMPLETE, expires_at=0, bundle_key=k) for k in self.bundle_keys]


# --- selection ----------------------------------------------------------------------


def test_a_time_range_selects_the_delivered_bundles_of_its_hours_only():
    hour = T0.replace(minute=0)
    inside, attempt = bundle_key(hour, "a"), bundle_key(hour, "b")
    before, later_hour = bundle_key(hour - timedelta(hours=2), "c"), bundle_key(hour + timedelta(hours=1), "d")
    not_a_bundle = f"bundles/{hour:%Y/%m/%d/%H}/notes.txt"
    archive = MemoryArchive({k: b"x" for k in (inside, attempt, before, later_hour, not_a_bundle)})
    archive.delivered = {inside, before, later_hour}
    selection = select_bundles(archive, "bundles", between=(T0 - timedelta(minutes=30), T0))
    assert (selection.keys, selection.unacknowledged) == ([inside], [attempt])
    everything = select_bundles(archive, "bundles", between=(T0 - timedelta(minutes=30), T0), include_undelivered=True)
    assert everything.keys == sorted([inside, attempt]) and everything.unacknowledged == []


def _with_index(archive: MemoryArchive, bundle: str, *event_times: datetime) -> None:
    """The index lines the aggregator writes beside ``bundle`` (see ``courier.bundle.index_lines``)."""
    index = "index/" + bundle[len("bundles/") : -len(".tar.gz")] + ".jsonl"
    lines = [
        json.dumps({"bucket": "landing", "key": f"k{i}", "event_time": f"{t:%Y-%m-%dT%H:%M:%S.%fZ}", "bundle_key": bundle})
        for i, t in enumerate(event_times)
    ]
    archive.objects[index] = ("\n".join(lines) + "\n").encode()
    archive.objects[bundle] = b"x"
    archive.delivered.add(bundle)


def test_a_time_range_is_honoured_to_the_second_through_the_index():
    ten = datetime(2026, 11, 25, 10, tzinfo=UTC)
    archive = MemoryArchive()
    early, late, next_hour = bundle_key(ten, "early"), bundle_key(ten, "late"), bundle_key(ten + timedelta(hours=1), "next")
    _with_index(archive, early, ten + timedelta(seconds=2), ten + timedelta(seconds=5))  # its time: its newest file, 10:00:05
    _with_index(archive, late, ten + timedelta(minutes=3))
    _with_index(archive, next_hour, ten + timedelta(hours=1, minutes=1))
    ten_seconds = select_bundles(archive, "bundles", between=(ten, ten + timedelta(seconds=10)))
    assert (ten_seconds.keys, ten_seconds.untimed) == ([early], [])
    assert select_bundles(archive, "bundles", between=(ten + timedelta(seconds=6), ten + timedelta(minutes=5))).keys == [late]
    # 09:30 to 11:30: hour 10 lies wholly inside, so only the edge hours' indexes are read.
    archive.reads.clear()
    wide = select_bundles(archive, "bundles", between=(ten - timedelta(minutes=30), ten + timedelta(minutes=90)))
    assert wide.keys == sorted([early, late, next_hour])
    assert archive.reads == ["index/" + next_hour[len("bundles/") : -len(".tar.gz")] + ".jsonl"]


def test_a_bundle_of_an_edge_hour_without_index_lines_is_kept_and_reported():
    ten = datetime(2026, 11, 25, 10, tzinfo=UTC)
    archive = MemoryArchive({bundle_key(ten, "old"): b"x"}, delivered={bundle_key(ten, "old")})
    archive.objects["index/2026/11/25/10/damaged.jsonl"] = b"not json"
    _with_index(archive, bundle_key(ten, "damaged"), ten)
    archive.objects["index/2026/11/25/10/damaged.jsonl"] = b"not json"
    selection = select_bundles(archive, "bundles", between=(ten + timedelta(minutes=1), ten + timedelta(minutes=2)))
    assert selection.keys == selection.untimed == sorted([bundle_key(ten, "old"), bundle_key(ten, "damaged")])


def test_explicit_bundles_and_a_range_are_one_sorted_list_without_repeats():
    hour = T0.replace(minute=0)
    a, b = bundle_key(hour, "a"), bundle_key(hour, "b")
    archive = MemoryArchive({a: b"1", b: b"2"}, delivered={a, b})
    assert select_bundles(archive, "bundles", [b, "bundles/x.tar.gz", b], between=(T0, T0)).keys == [a, b, "bundles/x.tar.gz"]


def test_a_file_is_found_through_the_ledger_while_it_remembers():
    source = SourceFile("landing", "in/f.json", T0 - timedelta(days=30), T0)
    selection = select_bundles(MemoryArchive(), "bundles", source=source, ledger=LedgerOf("bundles/k.tar.gz"))
    assert (selection.keys, selection.of_file, selection.found_through) == (["bundles/k.tar.gz"], ["bundles/k.tar.gz"], "ledger")


def test_a_file_is_found_through_the_index_once_the_ledger_forgot_keeping_acknowledged_bundles():
    hour = T0.replace(minute=0)
    delivered, attempt = bundle_key(hour, "a"), bundle_key(hour, "b")
    lines = [{"bucket": "landing", "key": "in/f.json", "bundle_key": k} for k in (delivered, attempt)]
    lines.append({"bucket": "landing", "key": "in/other.json", "bundle_key": bundle_key(hour, "c")})
    index = f"index/{hour:%Y/%m/%d/%H}/a.jsonl"
    archive = MemoryArchive({index: "\n".join(json.dumps(line) for line in lines).encode()}, delivered={delivered})
    selection = select_bundles(archive, "bundles", source=SourceFile("landing", "in/f.json", T0, T0), ledger=LedgerOf())
    assert (selection.keys, selection.found_through) == ([delivered], "index")


def test_time_range_defaults_and_refusals():
    assert time_range(None, None, 1, now=T0) == (T0 - timedelta(days=1), T0)
    assert time_range("2026-11-25T10:00Z", None, 30, now=T0) == (datetime(2026, 11, 25, 10, tzinfo=UTC), T0)
    assert time_range(None, "2026-11-25", 30)[0] == datetime(2026, 10, 26, tzinfo=UTC)
    with pytest.raises((ValueError, TypeError)):
        time_range("yesterday-ish", None, 1)


# --- replaying one bundle ---------------------------------------------------------------


def replayer(archive: MemoryArchive, posted: list[Any], admits: bool = True, dry_run: bool = False) -> Replayer:
    post = lambda delivery: posted.append(delivery) or 200  # noqa: E731
    return Replayer(archive, post, lambda: admits, "Bulk", 3, dry_run, clock=lambda: T0)


def test_a_missing_bundle_is_an_outcome_and_a_cold_one_is_restored_first():
    archive = MemoryArchive({"bundles/cold.tar.gz": b"x"}, cold={"bundles/cold.tar.gz"})
    posted: list[Any] = []
    assert replayer(archive, posted).replay("bundles/none.tar.gz").outcome is Outcome.MISSING
    result = replayer(archive, posted).replay("bundles/cold.tar.gz")
    assert result.outcome is Outcome.RESTORE_STARTED and "expected by 2026-11-27 10:30 UTC" in result.detail
    assert archive.restored == [("bundles/cold.tar.gz", 3, "Bulk")] and posted == []


def a_bundle(*contents: bytes, wrong_hash: bool = False) -> bytes:
    """A real courier bundle of ``contents``; ``wrong_hash``: its manifest names another SHA-256 for each file."""
    files = [
        SpooledFile(
            ObjectRef("landing", f"f{i}.bin", f"v{i}", None, None, len(c), T0, "ObjectCreated:Put"),
            io.BytesIO(c),
            len(c),
            "0" * 64 if wrong_hash else hashlib.sha256(c).hexdigest(),
            None,
            None,
        )
        for i, c in enumerate(contents)
    ]
    return build_bundle(files).data


def test_a_replay_streams_the_bundle_through_a_spool_and_posts_it_from_there():
    data = a_bundle(b"a" * 5000, bytes(range(256)) * 40)
    archive = MemoryArchive({"bundles/b.tar.gz": data})
    posted: list[Any] = []
    tiny = replayer(archive, posted)
    tiny.spools = Spools(memory_bytes=1024)  # smaller than the bundle: its spool is on disk
    result = tiny.replay("bundles/b.tar.gz")
    assert result.outcome is Outcome.SENT and result.files == 2 and result.bytes == len(data)
    (delivery,) = posted
    assert isinstance(delivery.body, Body) and delivery.sha256 == hashlib.sha256(data).hexdigest()
    assert delivery.purpose is Purpose.REPLAY
    assert archive.reads == [] and archive.opened == ["bundles/b.tar.gz"]  # never read whole into memory
    assert tiny.spools.in_memory == 0


def test_a_deep_verify_hashes_the_bundle_and_its_members_in_one_streamed_pass():
    good, lying = a_bundle(b"a" * 5000, b"b" * 300), a_bundle(b"c" * 10, wrong_hash=True)
    archive = MemoryArchive({"bundles/good.tar.gz": good, "bundles/lying.tar.gz": lying})
    assert verify_bundle(archive, "bundles/good.tar.gz", deep=True) == []
    (finding,) = verify_bundle(archive, "bundles/lying.tar.gz", deep=True)
    assert finding.problem == "member 'files/landing/f0.bin' does not match its manifest hash"
    assert archive.reads == [] and archive.opened == ["bundles/good.tar.gz", "bundles/lying.tar.gz"]


def test_a_deep_verify_of_bytes_that_do_not_match_their_metadata_says_only_that():
    archive = MemoryArchive({"bundles/b.tar.gz": a_bundle(b"a" * 100)})
    expected = hashlib.sha256(archive.objects["bundles/b.tar.gz"]).hexdigest()
    archive.objects["bundles/b.tar.gz"] += b"garbage"  # head() hashes the bytes: give it the old hash
    archive.head = lambda key: ArchivedObject(key, 1, expected)  # type: ignore[method-assign]
    archive.stored_sha256 = lambda key: expected  # type: ignore[method-assign]
    (finding,) = verify_bundle(archive, "bundles/b.tar.gz", deep=True)
    assert finding.problem.startswith("bytes hash to ") and finding.problem.endswith(f"metadata says {expected}")


def test_restore_state_reads_s3s_restore_header():
    def glacier(restore: str | None = None) -> ArchivedObject:
        return ArchivedObject("k", 1, storage_class="GLACIER", restore=restore)

    assert restore_state(ArchivedObject("k", 1)) == "ready"
    assert restore_state(glacier()) == "cold"
    assert restore_state(glacier('ongoing-request="true"')) == "in-progress"
    assert restore_state(glacier('ongoing-request="false", expiry-date="x"')) == "ready"


def test_tally_counts_what_the_summary_shows():
    results = [
        BundleResult("a", Outcome.SENT, files=3, bytes=100),
        BundleResult("b", Outcome.SENT, files=2, bytes=50),
        BundleResult("c", Outcome.RESTORE_STARTED),
        BundleResult("d", Outcome.MISSING),
        BundleResult("e", Outcome.HASH_MISMATCH, bytes=7),
    ]
    assert Tally.of(["a", "b", "c", "d", "e", "f"], results) == Tally(6, 5, 150, 2, 0, 1, 2, hash_mismatch=True)
    assert Tally.of(["a"], results[:1]).hash_mismatch is False
    dry = [BundleResult("a", Outcome.WOULD_SEND, bytes=40), BundleResult("b", Outcome.RESTORE_IN_PROGRESS)]
    assert Tally.of(["a", "b"], dry) == Tally(2, 0, 40, 0, 1, 1, 0, hash_mismatch=False)  # would send is not "skipped"


# --- redrive and status -------------------------------------------------------------------


@dataclass
class MemoryQueue:
    arn: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    move_task: str | None = None
    in_flight: int = 0
    retention: int = 345600

    def depth(self) -> tuple[int, int]:
        return len(self.messages), self.in_flight

    def retention_seconds(self) -> int:
        return self.retention

    def receive(self, max_messages: int, visibility_timeout: int) -> list[dict[str, Any]]:
        return self.messages[:max_messages]

    def make_visible(self, receipt_handles: Any) -> None:
        pass

    def send(self, body: str, message_attributes: Any = None) -> None:
        self.messages.append({"MessageId": body, "ReceiptHandle": body, "Body": body})

    def delete(self, receipt_handle: str) -> None:
        self.messages = [m for m in self.messages if m["ReceiptHandle"] != receipt_handle]

    def start_move_task(self, destination: Any) -> str | None:
        return self.move_task


def test_redrive_uses_the_move_task_where_there_is_one_and_moves_by_hand_otherwise():
    queue = MemoryQueue("arn:queue")
    dlq = MemoryQueue("arn:dlq", move_task="task-1")
    for n in range(3):
        dlq.send(f"m{n}")
    assert (redrive(dlq, queue).method, redrive(dlq, queue).task_handle) == ("start-message-move-task", "task-1")
    assert redrive(dlq, queue, max_messages=2).moved == 2  # a move task cannot stop at a count
    dlq.move_task = None
    assert redrive(dlq, queue).moved == 1 and dlq.messages == [] and len(queue.messages) == 3


class States:
    def __init__(self, *states: str, dependency: str | None = "nifi") -> None:
        self._states = set(states)
        self._dependency = dependency

    def states(self) -> set[str]:
        return self._states

    def dependency(self) -> str | None:
        return self._dependency


class Mapping:
    def enabled(self) -> bool:
        return True


def test_breaker_state_is_the_worst_circuit():
    assert breaker_state(States()) == "CLOSED"
    assert breaker_state(States("CLOSED", "HALF_OPEN")) == "HALF_OPEN"
    assert breaker_state(States("HALF_OPEN", "OPEN")) == "OPEN"


def test_status_of_a_local_stack_comes_from_its_receiver():
    class Receiver:
        def stats(self) -> dict[str, Any]:
            return {
                "distinct_files": 7,
                "duplicate_deliveries": 2,
                "distinct_bundles": 3,
                "files_in_several_bundles": 0,
                "latency_seconds": {"p50": 1.0},
                "mode": "ok",
            }

    archive = MemoryArchive({"bundles/a.tar.gz": b"", "index/a.jsonl": b""})
    local = LocalSources(archive, Receiver())
    queue, dlq = MemoryQueue("q", [{}], in_flight=2, retention=1209600), MemoryQueue("d", [{}])
    snapshot = gather(StatusSources(queue, dlq, States("OPEN"), Mapping(), "uuid", local))
    assert snapshot["queue_retention_seconds"] == 1209600  # the queue's own, not the default
    assert snapshot["oldest_message_age_seconds"] is None and snapshot["versions_swept_last_2h"] is None
    assert snapshot["aws_only"] == ["oldest_message_age_seconds", "versions_swept_last_2h"]
    assert list(snapshot)[:7] == [
        "queue_depth",
        "in_flight",
        "dlq_depth",
        "esm_enabled",
        "esm_uuid",
        "breaker_state",
        "queue_retention_seconds",
    ]
    assert (snapshot["queue_depth"], snapshot["in_flight"], snapshot["dlq_depth"]) == (1, 2, 1)
    assert (snapshot["esm_enabled"], snapshot["esm_uuid"], snapshot["breaker_state"]) == (True, "uuid", "OPEN")
    assert snapshot["paused_dependency"] == "nifi"
    assert (snapshot["bundles_archived"], snapshot["files_delivered"], snapshot["receiver_mode"]) == (1, 7, "ok")
    assert (snapshot["duplicate_deliveries"], snapshot["distinct_bundles"], snapshot["files_in_several_bundles"]) == (2, 3, 0)


def test_status_in_aws_comes_from_cloudwatch():
    class Metrics:
        def datapoints(self, namespace: str, metric: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            return {
                "BundlesArchived": [{"Sum": 4.0}],
                "FilesDelivered": [{"Sum": 40.0}, {"Sum": 2.0}],
                "DeliveryLatency": [{"ExtendedStatistics": {"p50": 2.0, "p95": 3.0, "p99": 4.0}}],
                "ApproximateAgeOfOldestMessage": [{"Maximum": 5.0}, {"Maximum": 9.0}],
                "VersionsSwept": [{"Sum": 120.0}],
            }[metric]

    snapshot = gather(StatusSources(MemoryQueue("q"), MemoryQueue("d"), States(), None, None, metrics=Metrics()))
    assert (snapshot["esm_enabled"], snapshot["esm_uuid"], snapshot["breaker_state"]) == (None, None, "CLOSED")
    assert (snapshot["bundles_archived"], snapshot["files_delivered"], snapshot["oldest_message_age_seconds"]) == (4, 42, 9.0)
    assert snapshot["latency_seconds"] == {"p50": 2.0, "p95": 3.0, "p99": 4.0} and snapshot["window"] == "last hour"
    assert snapshot["versions_swept_last_2h"] == 120  # the sweep's VersionsSwept: it runs hourly
    assert "aws_only" not in snapshot


def test_status_names_the_paused_dependency_only_while_the_circuit_is_not_closed():
    queue, dlq = MemoryQueue("q", []), MemoryQueue("d", [])
    paused = gather(StatusSources(queue, dlq, States("OPEN", dependency="s3"), Mapping(), "uuid", None))
    assert paused["paused_dependency"] == "s3"
    closed = gather(StatusSources(queue, dlq, States("CLOSED", dependency="s3"), Mapping(), "uuid", None))
    assert closed["paused_dependency"] is None


def test_status_in_aws_reads_the_metrics_of_its_own_environment_only():
    asked: list[tuple[str, dict[str, str]]] = []

    class Metrics:
        def datapoints(
            self, namespace: str, metric: str, dims: dict[str, str], *args: Any, **kwargs: Any
        ) -> list[dict[str, Any]]:
            asked.append((metric, dims))
            return []

    sources = StatusSources(MemoryQueue("q"), MemoryQueue("d"), States(), None, None, metrics=Metrics(), service="courier-prod")
    gather(sources)
    courier_metrics = [dims for metric, dims in asked if metric != "ApproximateAgeOfOldestMessage"]
    assert courier_metrics and all(dims == {"service": "courier-prod"} for dims in courier_metrics)


def test_the_metrics_service_of_a_command_is_the_environments_name(tmp_path):
    from courier.cli._context import Context

    assert Context.of_aws({"COURIER_NAME": "courier-prod"}, None, None, "eu-west-2").metrics_service() == "courier-prod"
    assert Context.of_aws({}, None, None, "eu-west-2").metrics_service() == "courier"  # the local stack's
