import json

import pytest

from courier.events import decode_key, parse_batch, parse_message
from support import TEST_EVENT, eventbridge_object_created, notification, s3_record, sns_notification, sqs_record


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("a+b.json", "a b.json"),
        ("a%2Bb.json", "a+b.json"),
        ("100%25+done.json", "100% done.json"),
        ("caf%C3%A9/%E6%97%A5%E6%9C%AC.json", "café/日本.json"),
        ("deep/path/to/x.json", "deep/path/to/x.json"),
        ("..%2F..%2Fetc%2Fpasswd", "../../etc/passwd"),
    ],
)
def test_keys_are_decoded_with_the_s3_rules(raw, decoded):
    assert decode_key(raw) == decoded


def test_object_created_record_becomes_an_object_ref():
    record = s3_record("landing", "dir/a b+c.json", version_id="v1", etag="abc", size=12)
    parsed = parse_message(sqs_record(notification(record), message_id="m1"))
    assert parsed.error is None and parsed.ignored is None
    (ref,) = parsed.objects
    assert (ref.bucket, ref.key, ref.version_id, ref.etag, ref.size) == ("landing", "dir/a b+c.json", "v1", "abc", 12)
    assert ref.identity.revision == "v:v1"


def test_identity_falls_back_to_sequencer_then_etag_when_unversioned():
    by_sequencer = parse_message(sqs_record(notification(s3_record("b", "k", etag="e1", sequencer="0a1")))).objects[0]
    by_etag = parse_message(sqs_record(notification(s3_record("b", "k", etag="e1", sequencer="")))).objects[0]
    assert by_sequencer.identity.revision == "s:0A1"
    assert by_etag.identity.revision == "e:e1"


def test_a_reupload_of_earlier_content_on_an_unversioned_bucket_is_a_new_revision():
    """A -> B -> A: the third write has the first one's eTag but its own sequencer, so its own identity."""
    writes = [("etag-a", "0055AED6DCD90281E5"), ("etag-b", "0055AED6DCD90281E6"), ("etag-a", "0055AED6DCD90281E7")]
    refs = [parse_message(sqs_record(notification(s3_record("b", "k", etag=e, sequencer=s)))).objects[0] for e, s in writes]
    assert len({ref.identity for ref in refs}) == 3


@pytest.mark.parametrize("announce", ["s3", "eventbridge"])
def test_version_id_null_of_a_suspended_bucket_is_identified_by_sequencer(announce):
    """Versioning Suspended: every write replaces the one null version, so "null" names no single write."""
    if announce == "s3":
        body = notification(s3_record("b", "k", version_id="null", etag="e", sequencer="00AB"))
    else:
        body = eventbridge_object_created("b", "k", version_id="null", etag="e", sequencer="00AB")
    (ref,) = parse_message(sqs_record(body)).objects
    assert ref.version_id is None and ref.identity.revision == "s:00AB"


def test_s3_test_event_is_acknowledged_without_objects():
    parsed = parse_message(sqs_record(TEST_EVENT))
    assert parsed.ignored == "s3:TestEvent" and parsed.objects == () and parsed.error is None


def test_events_other_than_object_created_are_ignored():
    parsed = parse_message(sqs_record(notification(s3_record("b", "k", event_name="ObjectRemoved:Delete"))))
    assert parsed.ignored == "ObjectRemoved:Delete" and parsed.error is None


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2, 3]",
        json.dumps({"Records": []}),
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        json.dumps({"hello": "world"}),
        json.dumps(
            {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Put",
                        "eventTime": "bad",
                        "s3": {"bucket": {"name": "b"}, "object": {"key": "k", "eTag": "e"}},
                    }
                ]
            }
        ),
    ],
)
def test_malformed_body_is_an_error_of_that_message_only(body):
    good = sqs_record(notification(s3_record("b", "k")), message_id="good")
    bad = sqs_record(body, message_id="bad")
    parsed = {p.message_id: p for p in parse_batch([bad, good])}
    assert parsed["bad"].error is not None and parsed["bad"].error.reason == "malformed_event"
    assert parsed["good"].error is None and len(parsed["good"].objects) == 1


def test_malformed_error_does_not_echo_the_body():
    secret_body = json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "payload": "TOPSECRET-CONTENT"}]})
    parsed = parse_message(sqs_record(secret_body))
    assert "TOPSECRET" not in str(parsed.error)


def test_receive_count_is_read_from_the_attributes():
    assert parse_message(sqs_record(TEST_EVENT, receive_count=4)).receive_count == 4


# --- the trust boundary: any body fails alone, with a reason, never with an exception ---------


def _record_with(**obj_fields):
    record = s3_record("landing", "in/a.json", version_id="v1")
    record["s3"]["object"].update(obj_fields)
    return record


HOSTILE_BODIES = {
    "size 1e400": '{"Records": [' + json.dumps(_record_with(size=0))[:-2].replace('"size": 0', '"size": 1e400') + "}}]}",
    "negative size": json.dumps(notification(_record_with(size=-1))),
    "fractional size": json.dumps(notification(_record_with(size=1.5))),
    "year 1 at +14:00": json.dumps(notification({**_record_with(), "eventTime": "0001-01-01T00:00:00+14:00"})),
    "nested 100k deep": "[" * 100_000 + "]" * 100_000,
    "lone surrogate key": json.dumps(notification(_record_with(key="in/\ud800.json"))),
    "encoded surrogate key": json.dumps(notification(_record_with(key="in/%ED%A0%80.json"))),
    "key too long": json.dumps(notification(_record_with(key="k" * 1025))),
    "record not an object": json.dumps({"Records": [1]}),
    "bucket not a string": json.dumps(
        notification({**_record_with(), "s3": {"bucket": {"name": 7}, "object": {"key": "k", "eTag": "e"}}})
    ),
    "not JSON bytes": "\x00\xff\xfe",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_a_hostile_body_becomes_a_malformed_event_of_its_own_message(name):
    parsed = parse_message(sqs_record(HOSTILE_BODIES[name], message_id="bad"))
    assert parsed.message_id == "bad" and parsed.objects == ()
    assert parsed.error is not None and parsed.error.reason == "malformed_event"


def test_a_test_event_that_carries_records_does_not_swallow_them():
    body = {**TEST_EVENT, "Records": [s3_record("landing", "in/a.json", version_id="v1")]}
    parsed = parse_message(sqs_record(body))
    assert parsed.ignored is None and [o.key for o in parsed.objects] == ["in/a.json"]


def test_a_record_that_is_not_a_mapping_at_all_fails_alone():
    parsed = parse_message({"messageId": "m", "body": None})
    assert parsed.error is not None and parsed.message_id == "m"


# --- the three envelopes S3 notifications arrive in -----------------------------------------

KEY = "in/café report+final 100%.json"


def _paths(**revision):
    """The same revision announced as a plain notification, through SNS (raw delivery off) and through EventBridge."""
    plain = notification(s3_record("landing", KEY, size=42, **revision))
    eventbridge_fields = {
        "version_id": revision.get("version_id"),
        "etag": revision.get("etag", "d41d8cd98f00b204e9800998ecf8427e"),
    }
    if "sequencer" in revision:
        eventbridge_fields["sequencer"] = revision["sequencer"]
    return {
        "plain": plain,
        "sns": sns_notification(plain),
        "eventbridge": eventbridge_object_created("landing", KEY, size=42, **eventbridge_fields),
    }


@pytest.mark.parametrize(
    "revision",
    [
        {"version_id": "096fKKXTRTtl3on89fVO.nfljtsv6qko"},
        {"etag": "b1946ac92492d2347c6235b4d2611184"},
        {"etag": None, "sequencer": "00617F0829"},
    ],
    ids=["versioned", "by-etag", "by-sequencer"],
)
def test_the_same_revision_has_one_identity_whichever_path_announced_it(revision):
    parsed = {path: parse_message(sqs_record(body, message_id=path)) for path, body in _paths(**revision).items()}
    assert all(p.error is None and p.ignored is None for p in parsed.values()), parsed
    refs = {path: p.objects[0] for path, p in parsed.items()}
    assert {ref.identity for ref in refs.values()} == {refs["plain"].identity}
    assert {(ref.bucket, ref.key, ref.size, ref.event_name) for ref in refs.values()} == {
        ("landing", KEY, 42, "ObjectCreated:Put")
    }


def test_sns_with_raw_message_delivery_on_is_the_plain_notification():
    # Raw delivery puts S3's own JSON in the body, with no SNS fields around it.
    parsed = parse_message(sqs_record(notification(s3_record("landing", KEY, version_id="v1"))))
    assert parsed.objects[0].key == KEY and parsed.objects[0].identity.revision == "v:v1"


def test_a_test_event_wrapped_by_sns_is_acknowledged():
    parsed = parse_message(sqs_record(sns_notification(TEST_EVENT)))
    assert parsed.ignored == "s3:TestEvent" and parsed.objects == () and parsed.error is None


def test_sns_wrapping_several_records_yields_them_all():
    plain = notification(s3_record("landing", "a.json", version_id="1"), s3_record("landing", "b.json", version_id="2"))
    assert [o.key for o in parse_message(sqs_record(sns_notification(plain))).objects] == ["a.json", "b.json"]


def test_eventbridge_keys_are_not_url_decoded():
    parsed = parse_message(sqs_record(eventbridge_object_created("landing", "in/a%2Bb+c.json", version_id="v1")))
    assert parsed.objects[0].key == "in/a%2Bb+c.json"


@pytest.mark.parametrize(
    ("reason", "event_name"),
    [
        ("PutObject", "ObjectCreated:Put"),
        ("CopyObject", "ObjectCreated:Copy"),
        ("CompleteMultipartUpload", "ObjectCreated:CompleteMultipartUpload"),
    ],
)
def test_eventbridge_reasons_map_to_s3_event_names(reason, event_name):
    parsed = parse_message(sqs_record(eventbridge_object_created("landing", "k", version_id="v", reason=reason)))
    assert parsed.objects[0].event_name == event_name


def test_eventbridge_events_other_than_object_created_are_ignored():
    parsed = parse_message(
        sqs_record(eventbridge_object_created("landing", "k", detail_type="Object Deleted", reason="DeleteObject"))
    )
    assert parsed.ignored == "Object Deleted" and parsed.error is None


def _eventbridge_without(*path):
    event = eventbridge_object_created("landing", "in/a.json", version_id="v1")
    target = event
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return event


def _eventbridge_without_revision():
    event = eventbridge_object_created("landing", "in/a.json", etag=None)
    del event["detail"]["object"]["sequencer"]
    return event


def _eventbridge_with_size(size):
    event = eventbridge_object_created("landing", "in/a.json", version_id="v1")
    event["detail"]["object"]["size"] = size
    return event


def _eventbridge_with_key(key):
    event = eventbridge_object_created("landing", "in/a.json", version_id="v1")
    event["detail"]["object"]["key"] = key
    return json.dumps(event)


HOSTILE_ENVELOPES = {
    "SNS Message not JSON": json.dumps(sns_notification("this is not json")),
    "SNS Message not a string": json.dumps({**sns_notification(TEST_EVENT), "Message": {"Records": []}}),
    "SNS Message a JSON list": json.dumps(sns_notification("[1, 2]")),
    "SNS Message nested 100k deep": json.dumps(sns_notification("[" * 100_000 + "]" * 100_000)),
    "SNS Message not an S3 event": json.dumps(sns_notification({"hello": "world"})),
    "SNS wrapping SNS": json.dumps(sns_notification(sns_notification(notification(s3_record("landing", "k"))))),
    "SNS lone surrogate key": json.dumps(sns_notification(notification(_record_with(key="in/\ud800.json")))),
    "EventBridge detail missing": json.dumps(_eventbridge_without("detail")),
    "EventBridge object missing": json.dumps(_eventbridge_without("detail", "object")),
    "EventBridge bucket name missing": json.dumps(_eventbridge_without("detail", "bucket", "name")),
    "EventBridge key missing": json.dumps(_eventbridge_without("detail", "object", "key")),
    "EventBridge time missing": json.dumps(_eventbridge_without("time")),
    "EventBridge no revision": json.dumps(_eventbridge_without_revision()),
    "EventBridge lone surrogate key": _eventbridge_with_key("in/\ud800.json"),
    "EventBridge key too long": _eventbridge_with_key("k" * 1025),
    "EventBridge detail-type not a string": json.dumps({**eventbridge_object_created("landing", "k"), "detail-type": 7}),
    "EventBridge negative size": json.dumps(_eventbridge_with_size(-1)),
    "EventBridge size 1e400": json.dumps(_eventbridge_with_size(0)).replace('"size": 0', '"size": 1e400'),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ENVELOPES))
def test_a_hostile_envelope_becomes_a_malformed_event_of_its_own_message(name):
    good = sqs_record(eventbridge_object_created("landing", "good.json", version_id="v1"), message_id="good")
    bad = sqs_record(HOSTILE_ENVELOPES[name], message_id="bad")
    parsed = {p.message_id: p for p in parse_batch([bad, good])}
    assert parsed["bad"].objects == () and parsed["bad"].error is not None
    assert parsed["bad"].error.reason == "malformed_event"
    assert parsed["good"].error is None and [o.key for o in parsed["good"].objects] == ["good.json"]
