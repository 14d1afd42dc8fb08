"""Backfill and trace on the local stack: 500 files landed without notifications are delivered once; trace's exit paths."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from conftest import wait_until
from courier.operator.backfill import notification
from courier.ports import Revision


def courier(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "courier", *args], capture_output=True, text=True, timeout=120)


def show(result: subprocess.CompletedProcess) -> None:
    """Shown on the real stderr (past pytest's capture) for the README's excerpts."""
    print(f"$ courier {' '.join(result.args[3:])}  # exit {result.returncode}\n{result.stdout}", file=sys.__stderr__)


def test_backfill_delivers_500_files_landed_without_notifications_exactly_once(local_stack):
    s3 = local_stack.session.client("s3")
    bucket = local_stack.resources.landing_bucket
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"backfill/{i:03d} f+{i}.json", Body=b"%d" % i), range(500)))
    state = str(local_stack.state_dir)

    first = courier("backfill", "--prefix", "backfill/", "--rate", "1000", "--state-dir", state)
    show(first)
    assert first.returncode == 0, first.stderr
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["distinct_files"] == 500, timeout=45)
    assert local_stack.drain(20)
    stats = local_stack.fake_nifi.state.stats()
    assert stats["files_in_several_bundles"] == 0
    posted = len(local_stack.fake_nifi.state.bundles)

    again = courier("backfill", "--prefix", "backfill/", "--restart", "--rate", "1000", "--state-dir", state)
    show(again)
    assert again.returncode == 0, again.stderr
    assert local_stack.drain(20)
    after = local_stack.fake_nifi.state.stats()
    assert after["distinct_files"] == 500 and after["files_in_several_bundles"] == 0
    assert len(local_stack.fake_nifi.state.bundles) == posted  # nothing new sent


def test_trace_exits_0_delivered_2_not_yet_3_in_the_dlq_6_never_landed(local_stack):
    s3 = local_stack.session.client("s3")
    bucket = local_stack.resources.landing_bucket
    state = str(local_stack.state_dir)
    s3.put_object(Bucket=bucket, Key="trace/ok.json", Body=b"{}")
    assert wait_until(lambda: local_stack.fake_nifi.state.stats()["distinct_files"] == 1, timeout=30)
    delivered = courier("trace", f"s3://{bucket}/trace/ok.json", "--state-dir", state)
    show(delivered)
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr

    local_stack.fake_nifi.state.set_mode("unavailable")
    s3.put_object(Bucket=bucket, Key="trace/waiting.json", Body=b"{}")
    wait_until(lambda: False, timeout=3)  # the aggregator tries and fails meanwhile
    waiting = courier("trace", f"s3://{bucket}/trace/waiting.json", "--json", "--state-dir", state)
    print(f"$ courier trace --json  # exit {waiting.returncode}\n{waiting.stdout}", file=sys.__stderr__)
    assert waiting.returncode == 2, waiting.stdout + waiting.stderr
    assert json.loads(waiting.stdout)["verdict"] == "not delivered yet"

    head = s3.head_object(Bucket=bucket, Key="trace/ok.json")
    poison = notification(bucket, Revision("trace/gone.json", None, 2, "e", head["LastModified"]))
    sqs = local_stack.session.client("sqs")
    sqs.send_message(QueueUrl=local_stack.resources.dlq_url, MessageBody=json.dumps(poison))
    failed = courier("trace", f"s3://{bucket}/trace/gone.json", "--state-dir", state)
    show(failed)
    assert failed.returncode == 3, failed.stdout + failed.stderr

    never = courier("trace", f"s3://{bucket}/trace/never-uploaded.json", "--state-dir", state)
    show(never)
    assert never.returncode == 6 and "never landed: no revision in the bucket" in never.stdout, never.stdout + never.stderr
    local_stack.fake_nifi.state.set_mode("ok")
