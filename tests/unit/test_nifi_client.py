"""The real NiFiClient against FakeNiFi (``httpx.MockTransport``): what goes on the wire, what each answer means."""

from __future__ import annotations

import hashlib
from contextlib import closing

import pytest

from courier.bundle import Body
from courier.delivery import Credentials
from courier.errors import NiFiAuthError, NiFiHashRejectedError, NiFiRejectedError, NiFiUnavailableError
from courier.ports import Delivery, Purpose
from fakes import FakeCredentialsSource, FakeNiFi

BODY = b"\x1f\x8b bundle bytes"
SHA = hashlib.sha256(BODY).hexdigest()


def post(nifi, purpose: Purpose = Purpose.DELIVERY) -> int:
    return nifi.post(Delivery(BODY, SHA, "bundle-1", 3, "bundles/2026/11/26/10/x.tar.gz", purpose))


def test_the_body_and_headers_go_out_as_the_contract_says():
    fake = FakeNiFi()
    with closing(fake.client()) as nifi:
        assert post(nifi) == 200
    (sent,) = fake.requests
    assert sent.body == BODY and sent.sha256 == SHA
    assert sent.headers["Content-Type"] == "application/gzip"
    assert sent.headers["X-Courier-File-Count"] == "3" and sent.headers["X-Courier-Bundle-Id"] == "bundle-1"
    assert "Content-Encoding" not in sent.headers and "X-Courier-Replay" not in sent.headers


def test_a_replay_says_so():
    fake = FakeNiFi()
    with closing(fake.client()) as nifi:
        post(nifi, Purpose.REPLAY)
    assert fake.requests[0].headers["X-Courier-Replay"] == "true"


def test_a_rotated_secret_is_reread_once_after_a_401():
    fake = FakeNiFi(Credentials(username="courier", password="new"))
    source = FakeCredentialsSource(Credentials(username="courier", password="old"))
    source.stored = Credentials(username="courier", password="new")  # rotated; the cache still holds the old one
    with closing(fake.client(source)) as nifi:
        assert post(nifi) == 200
    assert [r.status for r in fake.requests] == [401, 200] and source.reads == [False, True]


def test_credentials_refused_after_the_reread_are_an_auth_failure():
    fake = FakeNiFi(Credentials(token="expected"))
    source = FakeCredentialsSource(Credentials(token="wrong"))
    with closing(fake.client(source)) as nifi, pytest.raises(NiFiAuthError):
        post(nifi)
    assert [r.status for r in fake.requests] == [401, 401]


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        (503, NiFiUnavailableError),
        ("timeout", NiFiUnavailableError),
        ("reset", NiFiUnavailableError),
        (422, NiFiHashRejectedError),
        (413, NiFiRejectedError),
    ],
)
def test_each_failure_becomes_its_delivery_error(mode, error):
    fake = FakeNiFi()
    fake.mode = mode
    with closing(fake.client()) as nifi, pytest.raises(error):
        post(nifi)
    assert len(fake.requests) == 1  # only 401/403 is retried here; the aggregator owns the 422 retry


def test_a_spooled_body_goes_out_whole_with_its_length_not_chunked_and_again_after_a_401():
    data = bytes(range(256)) * 5000  # several chunks of the stream
    fake = FakeNiFi()
    fake.script(401)
    with closing(fake.client()) as nifi:
        assert nifi.post(Delivery(Body.of(data), hashlib.sha256(data).hexdigest(), "bundle-1", 1, "bundles/x.tar.gz")) == 200
    first, second = fake.requests
    for sent in (first, second):
        assert sent.body == data and sent.headers["Content-Length"] == str(len(data))
        assert "Transfer-Encoding" not in sent.headers
