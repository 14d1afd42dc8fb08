"""courier replay and courier archive verify against moto and the local HTTPS receiver."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from courier.cli import app
from courier.stackfile import REGION
from support import deploy_function

runner = CliRunner()


@pytest.fixture
def delivered(runtime, land, fake_nifi, aws, stack):
    """Three files delivered in one bundle; returns (archive key, archived bytes)."""
    result = runtime.aggregator.process([land(f"replay/{i}.json", f"file {i}".encode()).message() for i in range(3)])
    ((key, bundle),) = result.bundles
    return key, aws.client("s3").get_object(Bucket=stack.archive_bucket, Key=key)["Body"].read()


FUNCTION = "courier-aggregator"


@pytest.fixture
def cli_env(monkeypatch, env, aws, tmp_path):
    """The shell of an operator with the CA file, and the deployed aggregator whose settings name NiFi (--function)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COURIER_STATE_DIR", str(tmp_path / "no-stack"))
    deploy_function(aws, FUNCTION, {k: v for k, v in env.items() if k != "COURIER_NIFI_CA_BUNDLE"})


def wipe(fake_nifi):
    shutil.rmtree(fake_nifi.state.received_dir)
    fake_nifi.state.received_dir.mkdir()
    fake_nifi.state.bundles.clear()


def courier(*args):
    """A command as an operator runs it against AWS: a replay names the deployed function and confirms (--yes)."""
    if args[:1] == ("replay",) and "--help" not in args:
        args = (*args, "--function", FUNCTION, "--region", REGION, "--yes")
    return runner.invoke(app, list(args))


def test_replay_of_a_standard_bundle_sends_identical_bytes_and_headers(delivered, fake_nifi, cli_env):
    key, data = delivered
    original = fake_nifi.state.bundles[0]
    wipe(fake_nifi)
    result = courier("replay", "--bundle", key)
    assert result.exit_code == 0, result.output
    (replayed,) = fake_nifi.state.bundles
    assert (fake_nifi.state.received_dir / f"{replayed.sha256}.tar.gz").read_bytes() == data
    assert (replayed.sha256, replayed.bundle_id, replayed.file_count) == (
        original.sha256,
        original.bundle_id,
        original.file_count,
    )
    assert replayed.replay is True and original.replay is False
    assert "sent" in result.output


def test_deep_archive_bundle_is_restored_first_then_replayed(delivered, fake_nifi, cli_env, aws, stack):
    from botocore.exceptions import ClientError

    key, _ = delivered
    s3 = aws.client("s3")
    s3.copy_object(
        Bucket=stack.archive_bucket,
        Key=key,
        CopySource={"Bucket": stack.archive_bucket, "Key": key},
        StorageClass="DEEP_ARCHIVE",
        MetadataDirective="COPY",
    )
    with pytest.raises(ClientError, match="InvalidObjectState"):
        s3.get_object(Bucket=stack.archive_bucket, Key=key)
    wipe(fake_nifi)
    first = courier("replay", "--bundle", key, "--tier", "Bulk")
    assert first.exit_code == 0, first.output
    assert "restore started" in first.output and "expected by" in first.output
    assert fake_nifi.state.bundles == []
    # moto completes restores at once; in AWS this is the next morning's run (or --wait).
    second = courier("replay", "--bundle", key)
    assert second.exit_code == 0, second.output
    assert len(fake_nifi.state.bundles) == 1


def test_tampered_bundle_is_refused_and_reported_by_verify(delivered, fake_nifi, cli_env, aws, stack):
    key, data = delivered
    s3 = aws.client("s3")
    metadata = s3.head_object(Bucket=stack.archive_bucket, Key=key)["Metadata"]
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    s3.put_object(Bucket=stack.archive_bucket, Key=key, Body=bytes(tampered), Metadata=metadata)
    wipe(fake_nifi)
    refused = courier("replay", "--bundle", key)
    assert refused.exit_code == 3 and "hash mismatch" in refused.output
    assert fake_nifi.state.bundles == []
    shallow = courier("archive", "verify")
    assert shallow.exit_code == 3 and key in shallow.output
    deep = courier("archive", "verify", "--deep")
    assert deep.exit_code == 3 and "bytes hash to" in deep.output


def test_verify_passes_a_healthy_archive(delivered, cli_env):
    result = courier("archive", "verify", "--deep")
    assert result.exit_code == 0, result.output
    assert "checked 1 bundle (deep): 0 problems" in result.output


def test_file_finds_its_bundle_through_the_ledger_and_then_the_index(delivered, fake_nifi, cli_env, aws, stack):
    key, _ = delivered
    wipe(fake_nifi)
    by_ledger = courier("replay", "--file", "replay/1.json", "--dry-run")
    assert by_ledger.exit_code == 0 and "found through the ledger" in by_ledger.output and key in by_ledger.output
    dynamodb = aws.client("dynamodb")
    for item in dynamodb.scan(TableName=stack.idempotency_table)["Items"]:
        dynamodb.delete_item(
            TableName=stack.idempotency_table, Key={"object_name": item["object_name"], "revision": item["revision"]}
        )
    by_index = courier("replay", "--file", "replay/1.json")
    assert by_index.exit_code == 0, by_index.output
    assert "found through the index" in by_index.output and len(fake_nifi.state.bundles) == 1


def test_dry_run_sends_nothing(delivered, fake_nifi, cli_env):
    key, _ = delivered
    wipe(fake_nifi)
    result = courier("replay", "--bundle", key, "--dry-run")
    assert result.exit_code == 0 and "would send" in result.output
    assert fake_nifi.state.bundles == []


def test_replay_stops_when_nifi_is_down(delivered, fake_nifi, cli_env):
    key, _ = delivered
    fake_nifi.state.set_mode("unavailable")
    result = courier("replay", "--bundle", key)
    assert result.exit_code == 4 and "stopped" in result.output


def test_nothing_selected_is_its_own_exit_code(cli_env):
    result = courier("replay", "--bundle", "bundles/2026/01/01/00/" + "0" * 64 + ".tar.gz")
    assert result.exit_code == 5 and "missing" in result.output
    empty = courier("replay", "--from", "2001-01-01T00:00Z", "--to", "2001-01-01T01:00Z")
    assert empty.exit_code == 2 and "no bundle matched" in empty.output


def test_time_range_replay_skips_attempts_nifi_never_acknowledged(runtime, land, fake_nifi, cli_env):
    fake_nifi.state.set_mode("unavailable")
    failed_attempt = runtime.aggregator.process([land("attempt.json", b"1").message()])
    assert failed_attempt.failed
    fake_nifi.state.set_mode("ok")
    runtime.aggregator.process([land("later.json", b"2").message()])
    wipe(fake_nifi)
    since = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%MZ")
    result = courier("replay", "--from", since)
    assert "skipping 1 archived attempt" in result.output
    assert len(fake_nifi.state.bundles) == 1
    everything = courier("replay", "--from", since, "--include-undelivered", "--dry-run")
    assert sum(line.strip().startswith("would send  bundles/") for line in everything.output.splitlines()) == 2


def test_a_time_range_replays_the_bundles_of_those_seconds_only(runtime, land, fake_nifi, cli_env):
    ten = datetime(2026, 11, 25, 10, tzinfo=UTC)
    for name, offset in (("early", timedelta(seconds=5)), ("late", timedelta(minutes=3)), ("next", timedelta(hours=1))):
        landed = land(f"{name}.json", name.encode())
        landed.record["eventTime"] = (ten + offset).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert runtime.aggregator.process([landed.message()]).returned == []
    wipe(fake_nifi)
    result = courier("replay", "--from", "2026-11-25T10:00Z", "--to", "2026-11-25T10:00:10Z")
    assert result.exit_code == 0, result.output
    assert "bundles from 2026-11-25T10:00:00Z to 2026-11-25T10:00:10Z: 1" in result.output
    assert [b.file_count for b in fake_nifi.state.bundles] == [1] and list(received_keys(fake_nifi)) == ["early.json"]


def test_with_file_the_time_range_only_narrows_the_search(runtime, land, fake_nifi, cli_env):
    for name in ("wanted", "bystander"):
        runtime.aggregator.process([land(f"{name}.json", name.encode()).message()])
    wipe(fake_nifi)
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    result = courier("replay", "--file", "wanted.json", "--from", since)
    assert result.exit_code == 0, result.output
    assert list(received_keys(fake_nifi)) == ["wanted.json"]


def received_keys(fake_nifi):
    import json
    import tarfile

    for path in sorted(fake_nifi.state.received_dir.glob("*.tar.gz")):
        with tarfile.open(path, mode="r:gz") as tar:
            yield from (entry["key"] for entry in json.load(tar.extractfile("manifest.json"))["files"])


def test_replay_help_says_what_the_times_select():
    words = [w for w in courier("replay", "--help").output.split() if w not in {"│", "|"}]
    assert "time (the event time of their newest file, as in the archive key)" in " ".join(words)


def test_a_replay_against_aws_needs_the_function_and_ignores_the_shells_nifi_settings(delivered, fake_nifi, cli_env, monkeypatch):
    key, _ = delivered
    wipe(fake_nifi)
    refused = runner.invoke(app, ["replay", "--bundle", key, "--region", REGION, "--yes"])
    assert refused.exit_code == 1 and "needs --function" in refused.stderr and fake_nifi.state.bundles == []
    # The shell names another NiFi and allows plain http: the deployed function's settings win, TLS included.
    monkeypatch.setenv("COURIER_NIFI_URL", "http://127.0.0.1:9/elsewhere")
    monkeypatch.setenv("COURIER_NIFI_ALLOW_HTTP", "true")
    sent = courier("replay", "--bundle", key)
    assert sent.exit_code == 0, sent.output
    assert f"about to send 1 bundle(s) to NiFi {fake_nifi.url()} (AWS account" in sent.stderr
    assert f"function {FUNCTION}" in sent.stderr and len(fake_nifi.state.bundles) == 1


def test_a_time_range_replay_asks_first_and_sends_nothing_without_yes(delivered, fake_nifi, cli_env):
    wipe(fake_nifi)
    since = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%MZ")
    args = ["replay", "--from", since, "--function", FUNCTION, "--region", REGION]
    unasked = runner.invoke(app, args)
    assert unasked.exit_code == 1 and "give --yes" in unasked.stderr and fake_nifi.state.bundles == []
    assert f"about to send 1 bundle(s) to NiFi {fake_nifi.url()}" in unasked.stderr
    declined = runner.invoke(app, args, input="n\n")  # CliRunner's stdin is no terminal either: --yes is the only way
    assert declined.exit_code == 1 and fake_nifi.state.bundles == []
    assert runner.invoke(app, [*args, "--yes"]).exit_code == 0 and len(fake_nifi.state.bundles) == 1
