"""The trust boundary: whatever a message body holds, it fails alone and the good messages go through."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from courier.aggregator import Aggregator
from fakes import FakeArchive, FakeBreaker, FakeClock, FakeLanding, FakeNiFi, FakeParkingLot, InMemoryLedger
from support import notification, sns_notification, sqs_record

# Any code point, lone surrogates included: JSON can carry them ("\ud800"), UTF-8 cannot.
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# Bodies shaped almost like S3 notifications, with hostile fields where S3 puts good ones.
hostile_records = st.fixed_dictionaries(
    {
        "eventName": st.one_of(st.just("ObjectCreated:Put"), st.text(max_size=20), json_values),
        "eventTime": st.one_of(
            st.just("2026-11-26T10:00:00.000Z"), st.datetimes().map(lambda t: t.isoformat() + "+14:00"), any_text, json_values
        ),
        "s3": st.fixed_dictionaries(
            {
                "bucket": st.fixed_dictionaries({"name": st.one_of(st.just("courier-landing"), json_values)}),
                "object": st.fixed_dictionaries(
                    {
                        "key": st.one_of(any_text, json_values),
                        "size": st.one_of(st.integers(), st.floats(), json_values),
                        "eTag": st.one_of(st.just("d41d8cd98f00b204e9800998ecf8427e"), json_values),
                        "versionId": st.one_of(st.none(), any_text, json_values),
                    }
                ),
            }
        ),
    }
)
bodies = st.one_of(
    json_values.map(json.dumps),
    any_text,
    st.integers(min_value=1, max_value=200_000).map(lambda depth: "[" * depth + "]" * depth),
    st.binary().map(lambda b: b.decode("latin-1")),
    st.lists(hostile_records, min_size=1, max_size=3).map(lambda rs: json.dumps({"Records": rs})),
    # The same hostile records wrapped by SNS, and EventBridge envelopes with hostile details.
    st.lists(hostile_records, min_size=1, max_size=3).map(lambda rs: json.dumps(sns_notification({"Records": rs}))),
    st.one_of(any_text, json_values).map(lambda m: json.dumps({"Type": "Notification", "Message": m})),
    st.fixed_dictionaries(
        {
            "source": st.just("aws.s3"),
            "detail-type": st.one_of(st.just("Object Created"), json_values),
            "time": st.one_of(st.just("2026-11-26T10:00:00Z"), any_text, json_values),
            "detail": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {
                        "bucket": st.one_of(
                            st.fixed_dictionaries({"name": st.one_of(st.just("courier-landing"), json_values)}), json_values
                        ),
                        "object": st.one_of(
                            json_values,
                            st.fixed_dictionaries(
                                {
                                    "key": st.one_of(any_text, json_values),
                                    "size": st.one_of(st.integers(), st.floats(), json_values),
                                    "etag": st.one_of(st.just("d41d8cd98f00b204e9800998ecf8427e"), json_values),
                                    "version-id": st.one_of(st.none(), any_text, json_values),
                                }
                            ),
                        ),
                        "reason": st.one_of(st.just("PutObject"), json_values),
                    }
                ),
            ),
        }
    ).map(json.dumps),
)


# SQS never delivers these (its bodies are valid Unicode), but the product must not crash on any str the runtime hands over:
# a lone surrogate as the whole body, and unescaped inside a key of an otherwise good notification.
LONE_SURROGATE_BODY = "\ud800"
LONE_SURROGATE_IN_A_KEY = json.dumps(
    {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-11-26T10:00:00.000Z",
                "s3": {"bucket": {"name": "courier-landing"}, "object": {"key": "a\udfffb", "size": 1}},
            }
        ]
    },
    ensure_ascii=False,
)


def aggregator_with_fakes() -> tuple[Aggregator, FakeLanding, FakeNiFi, InMemoryLedger]:
    clock = FakeClock()
    landing, nifi, ledger = FakeLanding(), FakeNiFi(), InMemoryLedger(clock=clock)
    aggregator = Aggregator(
        ledger=ledger,
        landing=landing,
        archive=FakeArchive(),
        nifi=nifi.client(),
        archive_prefix="bundles",
        max_bundle_bytes=1 << 20,
        concurrency=2,
        clock=clock,
        breaker=FakeBreaker(clock=clock),
        parking_lot=FakeParkingLot(),
    )
    return aggregator, landing, nifi, ledger


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad=st.lists(bodies, min_size=1, max_size=5), good=st.integers(min_value=1, max_value=4))
@example(bad=[LONE_SURROGATE_BODY], good=1)
@example(bad=[LONE_SURROGATE_IN_A_KEY, LONE_SURROGATE_BODY], good=2)
def test_any_bodies_mixed_with_valid_messages_fail_alone(bad, good):
    aggregator, landing, nifi, ledger = aggregator_with_fakes()
    try:
        valid = [sqs_record(notification(landing.land(f"good/{i}.json", b"ok")), message_id=f"good-{i}") for i in range(good)]
        hostile = [sqs_record(body, message_id=f"bad-{i}") for i, body in enumerate(bad)]
        mixed = [m for pair in zip(hostile, valid + [None] * len(hostile), strict=False) for m in pair if m] + valid[
            len(hostile) :
        ]
        result = aggregator.process(mixed)
        assert not any(m.startswith("good-") for m in result.failed)  # every valid message went through
        delivered = {entry for request in nifi.accepted for entry in json.loads(_manifest(request.body))}
        assert {f"good/{i}.json" for i in range(good)} <= delivered
        assert ledger.items and all(r.status == "COMPLETE" for r in ledger.resolved_items() if r.identity.key.startswith("good/"))
    finally:
        aggregator.pool.shutdown()
        aggregator.nifi.close()


def _manifest(body: bytes) -> str:
    from courier.bundle import read_manifest

    return json.dumps([entry["key"] for entry in read_manifest(body)["files"]])


@pytest.mark.parametrize("body", [LONE_SURROGATE_BODY, LONE_SURROGATE_IN_A_KEY], ids=["whole-body", "in-a-key"])
def test_a_lone_surrogate_fails_its_message_alone_as_malformed(body):
    aggregator, landing, nifi, _ = aggregator_with_fakes()
    try:
        good = sqs_record(notification(landing.land("good/0.json", b"ok")), message_id="good-0")
        result = aggregator.process([sqs_record(body, message_id="bad-0"), good])
        assert result.failed == {"bad-0": "malformed_event"}
        assert nifi.accepted
    finally:
        aggregator.pool.shutdown()
        aggregator.nifi.close()
