"""How many AWS calls one invocation makes: the critical path's calls are counted, not timed."""

from __future__ import annotations

import json
from collections import Counter

from botocore.validate import ParamValidationDecorator

from courier.aggregator import CLAIM_BATCH
from courier.compose import build_runtime
from courier.config import Settings

FILES = 100
CLAIM_TRANSACTIONS = -(-FILES // CLAIM_BATCH)  # side by side on the pool (aggregator.CLAIM_BATCH says why)
# 100 GETs (S3 has no batch read), 4 claim transactions of 25, 1 assignment transaction, the bundle and index
# PUTs, 4 BatchWriteItem of 25 completions, the archive's delivered tag = 112. Was ~210 with a PutItem per claim.
CRITICAL_PATH_CALLS = FILES + CLAIM_TRANSACTIONS + 1 + 2 + 4 + 1


def test_a_100_file_batch_makes_one_call_per_get_and_a_few_batched_ledger_calls(aws, env, land, stack):
    calls: Counter[str] = Counter()
    aws.events.register("before-call", lambda model, **_: calls.update([f"{model.service_model.service_name}.{model.name}"]))
    runtime = build_runtime(Settings.from_env(env), aws)
    files = [land(f"count/{i:03d}.json", json.dumps({"n": i}).encode()) for i in range(FILES)]
    try:
        runtime.aggregator.process([files[0].message()])  # warm: the secret and the breaker are read once
        calls.clear()
        result = runtime.aggregator.process([f.message() for f in files[1:]] + [land("count/last.json", b"{}").message()])
    finally:
        runtime.nifi.close()
    assert result.response() == {"batchItemFailures": []} and len(result.delivered) == FILES
    # After the acknowledgement, each delivered landed revision is tagged (read and write its tag set: the
    # uploader's tags are kept): off the critical path, best effort, and not counted here.
    tagging = calls.pop("s3.GetObjectTagging", 0) + calls.pop("s3.PutObjectTagging", 0)
    assert tagging == 2 * FILES + 1  # and the archived bundle's delivered tag (counted below)
    calls["s3.PutObjectTagging"] = 1
    assert calls["s3.GetObject"] == FILES
    assert calls["dynamodb.TransactWriteItems"] == CLAIM_TRANSACTIONS + 1 and calls["dynamodb.PutItem"] == 0
    assert sum(calls.values()) <= CRITICAL_PATH_CALLS, calls


def test_the_aggregators_clients_leave_request_validation_to_aws(aws, env):
    runtime = build_runtime(Settings.from_env(env), aws)
    try:
        # botocore's client-side walk over a 100-claim transaction cost as much CPU as sending it.
        # botocore wraps the serializer in its validator unless told not to (client_config(parameter_validation=False)).
        for client in (runtime.aggregator.ledger.client, runtime.aggregator.landing.client):
            assert not isinstance(client._serializer, ParamValidationDecorator)
    finally:
        runtime.nifi.close()
