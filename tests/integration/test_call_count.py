"""How many AWS calls one invocation makes: the critical path's calls are counted, not timed."""

from __future__ import annotations

import json
from collections import Counter

from bench.cost_model import dynamodb_units
from botocore.validate import ParamValidationDecorator

from courier.compose import build_runtime
from courier.config import Settings

FILES = 100
# 100 GETs (S3 has no batch read), 100 conditional claim PutItems side by side, 1 PutItem assigning the bundle's group,
# the bundle and index PUTs, 1 UpdateItem completing the group, the archive's delivered tag = 205. The claims were
# 4 transactions of 25 (112 calls) until issue 23: a transaction's item costs 2 write units, a PutItem 1, and no
# claim depends on another (each is settled alone), so the bound trades 96 free calls for 100 write units a batch;
# they go out together on the client's connection pool (COURIER_FETCH_CONCURRENCY wide). The assignment was a
# transaction over every file (2 units each) and the completion a BatchWriteItem of every file (1 each): both are
# now one write to the bundle's group item, which the files' records point at (courier.ledger.base).
CRITICAL_PATH_CALLS = FILES + FILES + 1 + 2 + 1 + 1
# DynamoDB write units a file, counted from the requests as the cost model counts them: the claim (1, the floor:
# it keeps a file in one bundle) and the bundle's assignment and completion shared by its files.
WRITE_UNITS_PER_FILE = 1.05
# Landed revisions are no longer tagged after the acknowledgement (2 calls per file, one PUT-priced; issue 23):
# the landing lifecycle keeps every revision while a message can name it, with no per-file write.


def test_a_100_file_batch_makes_one_call_per_get_and_per_claim_and_a_few_batched_ledger_calls(aws, env, land, stack):
    calls: Counter[str] = Counter()
    write_units: Counter[str] = Counter()
    buckets: Counter[tuple[str, str]] = Counter()
    aws.events.register("before-call", lambda model, **_: calls.update([f"{model.service_model.service_name}.{model.name}"]))
    aws.events.register(
        "provide-client-params.dynamodb",
        lambda model, params, **_: write_units.update({model.name: dynamodb_units(model.name, params)[0]}),
    )
    aws.events.register(
        "provide-client-params.s3", lambda model, params, **_: buckets.update([(params.get("Bucket"), model.name)])
    )
    runtime = build_runtime(Settings.from_env(env), aws)
    files = [land(f"count/{i:03d}.json", json.dumps({"n": i}).encode()) for i in range(FILES)]
    try:
        runtime.aggregator.process([files[0].message()])  # warm: the secret and the breaker are read once
        calls.clear()
        buckets.clear()
        write_units.clear()
        result = runtime.aggregator.process([f.message() for f in files[1:]] + [land("count/last.json", b"{}").message()])
    finally:
        runtime.nifi.close()
    assert result.response() == {"batchItemFailures": []} and len(result.delivered) == FILES
    # Delivered revisions need no per-file S3 write: the landing bucket is only read, once per file.
    assert {op: n for (bucket, op), n in buckets.items() if bucket == stack.landing_bucket} == {"GetObject": FILES}
    assert calls["s3.GetObjectTagging"] == 0 and calls["s3.PutObjectTagging"] == 1  # the archived bundle's tag
    assert calls["s3.GetObject"] == FILES
    # The claims and the group's assignment; its completion; no transaction, no per-file batch.
    assert calls["dynamodb.PutItem"] == FILES + 1 and calls["dynamodb.UpdateItem"] == 1
    assert calls["dynamodb.TransactWriteItems"] == 0 and calls["dynamodb.BatchWriteItem"] == 0
    assert sum(calls.values()) <= CRITICAL_PATH_CALLS, calls
    assert sum(write_units.values()) / FILES <= WRITE_UNITS_PER_FILE, write_units


def test_the_aggregators_clients_leave_request_validation_to_aws(aws, env):
    runtime = build_runtime(Settings.from_env(env), aws)
    try:
        # botocore's client-side walk over a 100-claim transaction cost as much CPU as sending it.
        # botocore wraps the serializer in its validator unless told not to (client_config(parameter_validation=False)).
        for client in (runtime.aggregator.ledger.client, runtime.aggregator.landing.client):
            assert not isinstance(client._serializer, ParamValidationDecorator)
    finally:
        runtime.nifi.close()
