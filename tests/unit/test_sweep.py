"""The sweep deletes exactly the delivered revisions of hours past the week, and nothing else (R13 kept).

Each test would fail if the sweep deleted wrongly: an undelivered bundle's
versions, a young hour's, a foreign bucket's, a newer revision of a delivered
key; or lost a partition to one failed run.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courier.bundle import FetchedFile, archive_key, build_bundle, index_key, index_lines
from courier.events import ObjectRef
from courier.sweep import DELETE_BATCH, READERS, RESERVE_MS, SWEEP_MARGIN, WEEK, Sweep, sweepable_partitions
from fakes import FakeArchiveIndex, FakeLandingVersions

LANDING = "courier-landing"
NOW = datetime(2026, 12, 8, 10, 30, tzinfo=UTC)
OLD_HOUR = datetime(2026, 12, 1, 8, tzinfo=UTC)  # ended 7 d 1 h 30 min before NOW: sweepable
YOUNG_HOUR = datetime(2026, 12, 1, 9, tzinfo=UTC)  # ended 7 d 30 min before NOW: within the margin


def _file(key: str, version: str, at: datetime, bucket: str = LANDING) -> FetchedFile:
    ref = ObjectRef(bucket, key, version, "etag", None, 1, at, "ObjectCreated:Put")
    return FetchedFile(ref, b"x", version, "etag")


def _archive(archive: FakeArchiveIndex, files: list[FetchedFile], delivered: bool) -> str:
    bundle = build_bundle(files)
    key = archive_key("bundles", bundle)
    archive.index[index_key(bundle)] = index_lines(bundle, key)
    if delivered:
        archive.delivered.add(key)
    return key


def _landed(landing: FakeLandingVersions, files: list[FetchedFile]) -> None:
    for f in files:
        landing.put(f.ref.bucket, f.ref.key, f.version_id or "null")


def _one_delivered_file() -> tuple[FakeArchiveIndex, FakeLandingVersions]:
    """in/a.csv's version v1, landed in OLD_HOUR, in a bundle tagged delivered."""
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    files = [_file("in/a.csv", "v1", OLD_HOUR)]
    _landed(landing, files)
    _archive(archive, files, delivered=True)
    return archive, landing


def _sweep(archive: FakeArchiveIndex, landing: FakeLandingVersions, now: datetime = NOW, **kwargs):
    return Sweep(archive, landing, [LANDING], **kwargs).run(now)


def test_a_delivered_bundles_exact_versions_are_deleted_while_a_newer_version_of_the_key_stays():
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    files = [_file("in/a.csv", "v1", OLD_HOUR + timedelta(minutes=5)), _file("in/b.csv", "v1", OLD_HOUR)]
    _landed(landing, files)
    landing.put(LANDING, "in/a.csv", "v2")  # re-uploaded later: not delivered in this bundle
    _archive(archive, files, delivered=True)

    result = _sweep(archive, landing)

    assert landing.versions(LANDING, "in/a.csv") == ["v2"]
    assert landing.versions(LANDING, "in/b.csv") == []
    assert result.versions_swept == 2 and result.failures == 0
    assert landing.requests == [(LANDING, [("in/a.csv", "v1"), ("in/b.csv", "v1")])]


def test_an_undelivered_bundles_versions_are_kept_for_the_lifecycle():
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    files = [_file("in/late.csv", "v1", OLD_HOUR)]
    _landed(landing, files)
    _archive(archive, files, delivered=False)

    result = _sweep(archive, landing)

    assert landing.versions(LANDING, "in/late.csv") == ["v1"]
    assert result.bundles_kept == 1 and result.versions_swept == 0
    assert landing.requests == []


def test_a_partition_younger_than_the_week_and_the_margin_is_not_even_listed():
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    files = [_file("in/young.csv", "v1", YOUNG_HOUR + timedelta(minutes=59))]
    _landed(landing, files)
    _archive(archive, files, delivered=True)

    _sweep(archive, landing)

    assert landing.versions(LANDING, "in/young.csv") == ["v1"]
    assert not any(prefix.startswith(f"index/{YOUNG_HOUR:%Y/%m/%d/%H}") for _, prefix in archive.calls)


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)))
def test_every_swept_hour_ended_the_week_and_the_margin_ago_and_they_are_the_newest_such(now: datetime):
    starts = [datetime.strptime(p, "index/%Y/%m/%d/%H/").replace(tzinfo=UTC) for p in sweepable_partitions(now)]
    assert all(start + timedelta(hours=1) <= now - WEEK - SWEEP_MARGIN for start in starts)
    # The next hour has not ended a week and the margin ago: no eligible hour is skipped between runs.
    assert starts[0] + timedelta(hours=2) > now - WEEK - SWEEP_MARGIN
    assert [a - b for a, b in zip(starts, starts[1:], strict=False)] == [timedelta(hours=1)] * (len(starts) - 1)


def test_a_line_naming_a_bucket_not_among_the_landing_buckets_is_ignored():
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    files = [_file("in/a.csv", "v1", OLD_HOUR), _file("secret.csv", "v1", OLD_HOUR, bucket="someone-elses")]
    _landed(landing, files)
    _archive(archive, files, delivered=True)

    result = _sweep(archive, landing)

    assert landing.versions("someone-elses", "secret.csv") == ["v1"]
    assert landing.versions(LANDING, "in/a.csv") == []
    assert all(bucket == LANDING for bucket, _ in landing.requests)
    assert result.lines_skipped == 1


def test_a_line_without_a_version_id_is_never_deleted_by_key():
    archive, _ = _delivered_with_lines([_file("in/unversioned.csv", "", OLD_HOUR)], lambda line: line.update(version_id=None))
    landing = FakeLandingVersions()
    landing.put(LANDING, "in/unversioned.csv", "null")

    result = _sweep(archive, landing)

    assert landing.requests == [] and result.lines_skipped == 1


def _delivered_with_lines(files: list[FetchedFile], edit) -> tuple[FakeArchiveIndex, str]:
    """A delivered bundle of ``files`` whose index lines ``edit`` changed (as S3 or a hostile writer may have them)."""
    archive = FakeArchiveIndex()
    bundle = build_bundle(files)
    key = archive_key("bundles", bundle)
    lines = [json.loads(line) for line in index_lines(bundle, key).splitlines()]
    for line in lines:
        edit(line)
    archive.index[index_key(bundle)] = "\n".join(json.dumps(line) for line in lines).encode()
    archive.delivered.add(key)
    return archive, key


def test_a_null_version_is_never_deleted_it_may_be_an_overwrite_landed_after_the_delivery():
    # Versioning Suspended: S3 answers the GET with VersionId "null", and a later PUT replaces that
    # "null" version in place, so (key, "null") names whatever landed last, maybe undelivered.
    archive, _ = _delivered_with_lines([_file("in/suspended.csv", "null", OLD_HOUR)], lambda line: None)
    landing = FakeLandingVersions()
    landing.put(LANDING, "in/suspended.csv", "null")  # the overwrite, its message still queued

    result = _sweep(archive, landing)

    assert landing.requests == [] and landing.versions(LANDING, "in/suspended.csv") == ["null"]
    assert result.lines_skipped == 1


def test_a_line_vouched_for_by_another_bundles_delivered_tag_is_not_deleted():
    # The delivered tag vouches for the bundle the index file was written with (same hour, same SHA-256),
    # not for whichever bundle a line names: a refused bundle's index line pointing at a delivered one is kept.
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    delivered = _archive(archive, [_file("in/delivered.csv", "v1", OLD_HOUR)], delivered=True)
    refused = [_file("in/refused.csv", "v1", OLD_HOUR)]
    _landed(landing, refused)
    bundle = build_bundle(refused)
    archive.index[index_key(bundle)] = index_lines(bundle, delivered)

    result = _sweep(archive, landing)

    assert landing.versions(LANDING, "in/refused.csv") == ["v1"]
    assert result.lines_skipped == 1


def test_a_file_landed_within_the_week_is_kept_though_its_bundle_mates_landed_long_before():
    # The sweep's premise: a bundle's hour partition is its NEWEST file's (bundle.created_at), so an
    # old file (a redriven message, a backlog) never drags a young one into a swept hour.
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    files = [_file("in/old.csv", "v1", OLD_HOUR - timedelta(days=1)), _file("in/young.csv", "v1", YOUNG_HOUR)]
    _landed(landing, files)
    _archive(archive, files, delivered=True)

    _sweep(archive, landing, now=NOW - timedelta(days=1))  # the old file's hour is past the week
    assert landing.requests == []

    _sweep(archive, landing, now=NOW + timedelta(hours=1))  # the young file's hour is past it too
    assert landing.versions(LANDING, "in/young.csv") == [] and landing.versions(LANDING, "in/old.csv") == []


def test_a_failed_run_loses_nothing_the_next_hours_run_sweeps_the_partition_again():
    archive, landing = _one_delivered_file()
    archive.fail("keys")

    first = _sweep(archive, landing)
    assert first.failures > 0 and landing.versions(LANDING, "in/a.csv") == ["v1"]

    archive.heal()
    _sweep(archive, landing, now=NOW + timedelta(hours=1))
    assert landing.versions(LANDING, "in/a.csv") == []


def test_a_failed_delete_request_is_retried_by_the_next_run():
    archive, landing = _one_delivered_file()
    landing.failing = True

    assert _sweep(archive, landing).failures == 1

    landing.failing = False
    assert _sweep(archive, landing, now=NOW + timedelta(hours=1)).versions_swept == 1
    assert landing.versions(LANDING, "in/a.csv") == []


def test_a_second_sweep_of_the_same_hour_is_harmless():
    archive, landing = _one_delivered_file()

    _sweep(archive, landing)
    again = _sweep(archive, landing, now=NOW + timedelta(hours=1))

    assert again.failures == 0 and landing.versions(LANDING, "in/a.csv") == []


def test_versions_s3_refuses_are_counted_by_code_and_logged_without_their_keys(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
):
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    hostile = "in/\x1b]0;owned\x07.csv"
    files = [_file(hostile, "v1", OLD_HOUR), _file("in/b.csv", "v1", OLD_HOUR)]
    _landed(landing, files)
    _archive(archive, files, delivered=True)
    landing.refuse[(hostile, "v1")] = "AccessDenied"

    with caplog.at_level(logging.INFO, logger="courier"):
        result = _sweep(archive, landing)

    metrics = capfd.readouterr().out  # EMF documents
    assert result.failures == 1 and result.versions_swept == 1
    assert '"code":"AccessDenied","SweepFailures":[1.0]' in metrics
    assert [r.codes for r in caplog.records if hasattr(r, "codes")] == [{"AccessDenied": 1}]
    assert "owned" not in metrics and all("owned" not in str(vars(r)) for r in caplog.records)


def test_a_run_short_of_time_stops_and_the_next_run_sweeps_the_rest():
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    count = READERS * 4 + 3  # one round of reads, then the time runs short before the next
    for n in range(count):
        group = [_file(f"in/{n}.csv", "v1", OLD_HOUR + timedelta(seconds=n))]
        _landed(landing, group)
        _archive(archive, group, delivered=True)
    clock = iter([RESERVE_MS + 1, RESERVE_MS - 1])

    first = _sweep(archive, landing, remaining_ms=lambda: next(clock, 0))

    assert first.stopped_early and first.versions_swept == READERS * 4
    _sweep(archive, landing, now=NOW + timedelta(hours=1))
    assert all(landing.versions(LANDING, f"in/{n}.csv") == [] for n in range(count))


def test_deletes_go_in_requests_of_at_most_a_thousand_versions():
    archive, landing = FakeArchiveIndex(), FakeLandingVersions()
    files = [_file(f"in/{n:04}.csv", "v1", OLD_HOUR) for n in range(DELETE_BATCH + 5)]
    _landed(landing, files)
    _archive(archive, files, delivered=True)

    result = _sweep(archive, landing)

    assert [len(versions) for _, versions in landing.requests] == [DELETE_BATCH, 5]
    assert result.versions_swept == DELETE_BATCH + 5
