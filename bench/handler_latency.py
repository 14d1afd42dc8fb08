"""Benchmark 2: one invocation of 100 files with AWS-like latencies, vs its critical-path bound
and vs a naive sequential implementation of the design's five steps.

    python -m bench.handler_latency
"""

from __future__ import annotations

import math
import statistics
import time

from moto import mock_aws

from bench.common import AWS_LATENCY, NIFI_LATENCY, figures_only, files, inject_latency, report, save
from bench.world import fake_nifi, land, new_session, provisioned, runtime
from courier.bundle import FetchedFile, archive_key, build_bundle
from courier.local.emulator import make_conditional_writes_atomic

COMMAND = ".venv/bin/python -m bench.handler_latency"
FILES = 100
ROUNDS = 3


def bound(concurrency: int, build_seconds: float) -> float:
    """The critical path of courier's design under the injected latencies (warm invocation)."""
    ddb, get, put = AWS_LATENCY[("dynamodb", "*")], AWS_LATENCY[("s3", "GetObject")], AWS_LATENCY[("s3", "PutObject")]
    waves = math.ceil(FILES / concurrency)
    claim_and_fetch = waves * (ddb + get)  # one pool task per file: claim, then GET
    archive = put  # bundle and index PUTs side by side
    complete = max(put, math.ceil(FILES / 25) * ddb)  # delivered tag beside BatchWriteItem chunks
    return claim_and_fetch + build_seconds + archive + NIFI_LATENCY + complete


def sequential(session, stack, records, nifi_post) -> None:
    """The design's five steps one after another: per file a ledger call and a GET, then bundle,
    archive, POST, and per file a ledger update."""
    from courier.bundle import FetchedFile
    from courier.events import parse_message

    s3, ddb = session.client("s3"), session.client("dynamodb")
    got = []
    for record in records:
        ref = parse_message(record).objects[0]
        ddb.get_item(
            TableName=stack.idempotency_table,
            Key={"object_name": {"S": ref.identity.object_name}, "revision": {"S": ref.identity.revision}},
        )
        body = s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
        got.append(FetchedFile(ref, body, None, ref.etag))
    bundle = build_bundle(got)
    key = archive_key("sequential", bundle)
    s3.put_object(Bucket=stack.archive_bucket, Key=key, Body=bundle.data, Metadata={"sha256": bundle.sha256})
    nifi_post(bundle.data, bundle.sha256, bundle.bundle_id, bundle.file_count, key)
    for f in got:
        ddb.put_item(
            TableName=stack.idempotency_table,
            Item={
                "object_name": {"S": f.identity.object_name},
                "revision": {"S": f.identity.revision},
                "status": {"S": "COMPLETE"},
            },
        )


def with_stub(contents: list[bytes]) -> dict:
    """The same invocation against the latency-only stub: the design's own critical path."""
    from bench.stub_aws import StubAWS
    from bench.world import record_for
    from courier.events import parse_message
    from courier.local.provision import Stack

    stack = Stack(
        "courier-landing",
        "courier-archive",
        "",
        "arn:aws:sqs:eu-west-2:1:courier-queue",
        "",
        "",
        "courier-idempotency",
        "courier-breaker",
        "courier/nifi",
    )
    warm, builds = [], []
    with fake_nifi(delay=NIFI_LATENCY) as (nifi, ca):
        session = new_session()
        stub = StubAWS({"username": "bench", "password": "bench"})
        inject_latency(session)
        stub.install(session)
        courier = runtime(session, stack, nifi, ca)
        s3 = session.client("s3")

        def records(prefix: str) -> list[dict]:
            out = []
            for i, body in enumerate(contents):
                key = f"{prefix}/{i:06d}.json"
                put = s3.put_object(Bucket=stack.landing_bucket, Key=key, Body=body)
                out.append(record_for(stack.landing_bucket, key, put, len(body), stack.queue_arn))
            return out

        courier.aggregator.process(records("warmup"))
        for round_ in range(ROUNDS):
            batch = records(f"round{round_}")
            start = time.perf_counter()
            result = courier.aggregator.process(batch)
            warm.append(time.perf_counter() - start)
            assert not result.failed and len(result.delivered) == FILES, result.failed
            refs = [parse_message(r).objects[0] for r in batch]
            files_again = [FetchedFile(ref, stub.body(ref.bucket, ref.key), None, None) for ref in refs]
            start = time.perf_counter()
            build_bundle(files_again)
            builds.append(time.perf_counter() - start)
        seq = []
        for round_ in range(2):
            batch = records(f"seq{round_}")
            start = time.perf_counter()
            sequential(session, stack, batch, courier.nifi.post)
            seq.append(time.perf_counter() - start)
        courier.nifi.close()
    return {
        "warm_invocation_s": statistics.median(warm),
        "bundle_build_s": statistics.median(builds),
        "concurrency": courier.settings.fetch_concurrency,
        "sequential_s": statistics.median(seq),
    }


@figures_only
def main() -> dict:
    make_conditional_writes_atomic()
    contents = files(FILES)
    with mock_aws(), fake_nifi(delay=NIFI_LATENCY) as (nifi, ca):
        session = new_session()
        stack = provisioned(session)
        inject_latency(session)
        courier = runtime(session, stack, nifi, ca)
        concurrency = courier.settings.fetch_concurrency
        cold_records = land(session, stack, contents, "warmup")
        start = time.perf_counter()
        courier.aggregator.process(cold_records)  # cold: reads the secret and the breaker once
        cold = time.perf_counter() - start
        warm, builds = [], []
        for round_ in range(ROUNDS):
            records = land(session, stack, contents, f"round{round_}")
            start = time.perf_counter()
            result = courier.aggregator.process(records)
            warm.append(time.perf_counter() - start)
            assert not result.failed and len(result.delivered) == FILES
            same_files = _refetch(session, result)
            start = time.perf_counter()
            build_bundle(same_files)
            builds.append(time.perf_counter() - start)
        seq = []
        for round_ in range(2):
            records = land(session, stack, contents, f"seq{round_}")
            start = time.perf_counter()
            sequential(session, stack, records, courier.nifi.post)
            seq.append(time.perf_counter() - start)
        courier.nifi.close()
    measured, build_s = statistics.median(warm), statistics.median(builds)
    limit = bound(concurrency, build_s)
    stub = with_stub(contents)
    stub_limit = bound(stub["concurrency"], stub["bundle_build_s"])
    figures = {
        "files": FILES,
        "concurrency": concurrency,
        "cold_invocation_s": cold,
        "warm_invocation_s": measured,
        "critical_path_bound_s": limit,
        "ratio_to_bound": measured / limit,
        "sequential_s": statistics.median(seq),
        "speedup_vs_sequential": statistics.median(seq) / measured,
        "bundle_build_s": build_s,
        "latency_only_stub": stub
        | {
            "critical_path_bound_s": stub_limit,
            "ratio_to_bound": stub["warm_invocation_s"] / stub_limit,
            "speedup_vs_sequential": stub["sequential_s"] / stub["warm_invocation_s"],
        },
        "latencies": {f"{s}.{o}": v for (s, o), v in AWS_LATENCY.items()} | {"nifi": NIFI_LATENCY},
    }
    report(
        f"handler batch latency ({FILES} files x 27 KB, AWS-like latencies injected, moto in-process)",
        [
            ("cold invocation", f"{cold * 1000:.0f} ms", "(secret + breaker read once)"),
            ("warm invocation", f"{measured * 1000:.0f} ms", f"median of {ROUNDS}"),
            (
                "critical-path bound",
                f"{limit * 1000:.0f} ms",
                f"{math.ceil(FILES / concurrency)} waves of claim+GET, build, PUT, NiFi, ledger",
            ),
            ("ratio to bound", f"{figures['ratio_to_bound']:.2f}x", "target <= 1.3x"),
            ("sequential reference", f"{figures['sequential_s'] * 1000:.0f} ms", ""),
            ("speed-up vs sequential", f"{figures['speedup_vs_sequential']:.1f}x", "target >= 10x"),
            ("-- latency-only stub --", "", "(AWS-side work free: the design's own path)"),
            ("warm invocation", f"{stub['warm_invocation_s'] * 1000:.0f} ms", f"median of {ROUNDS}"),
            ("critical-path bound", f"{stub_limit * 1000:.0f} ms", ""),
            ("ratio to bound", f"{stub['warm_invocation_s'] / stub_limit:.2f}x", "target <= 1.3x"),
            ("sequential reference", f"{stub['sequential_s'] * 1000:.0f} ms", ""),
            ("speed-up vs sequential", f"{stub['sequential_s'] / stub['warm_invocation_s']:.1f}x", "target >= 10x"),
        ],
        COMMAND,
    )
    save("handler_latency", figures, COMMAND)
    return figures


def _refetch(session, result):
    """The files of the delivered bundle again, to time the CPU part (bundle build) alone."""
    from courier.bundle import FetchedFile
    from courier.events import ObjectRef

    s3 = session.client("s3")
    ((_, bundle),) = result.bundles
    out = []
    for entry in bundle.manifest["files"]:
        body = s3.get_object(Bucket=entry["bucket"], Key=entry["key"])["Body"].read()
        ref = ObjectRef(
            entry["bucket"],
            entry["key"],
            entry["version_id"],
            entry["etag"],
            None,
            entry["size"],
            bundle.created_at,
            "ObjectCreated:Put",
        )
        out.append(FetchedFile(ref, body, entry["version_id"], entry["etag"]))
    return out


if __name__ == "__main__":
    main()
