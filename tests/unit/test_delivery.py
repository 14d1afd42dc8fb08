import pytest

from courier.delivery import Credentials, error_for_status, request_headers
from courier.errors import (
    NiFiAuthError,
    NiFiHashRejectedError,
    NiFiRejectedError,
    NiFiUnavailableError,
    PermanentError,
    RetryableError,
)
from courier.ports import Delivery


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (204, None),
        (422, NiFiHashRejectedError),
        (401, NiFiAuthError),
        (403, NiFiAuthError),
        (500, NiFiUnavailableError),
        (503, NiFiUnavailableError),
        (429, NiFiUnavailableError),
        (400, NiFiRejectedError),
        (413, NiFiRejectedError),
    ],
)
def test_status_codes_map_to_outcomes(status, error):
    result = error_for_status(status)
    assert (result is None) if error is None else isinstance(result, error)


def test_outages_are_retryable_and_bad_requests_permanent():
    assert isinstance(error_for_status(503), RetryableError)
    assert isinstance(error_for_status(400), PermanentError)


def test_headers_carry_the_hash_and_never_a_content_encoding():
    headers = request_headers(Delivery(b"", "ab" * 32, "bid", 3, "bundles/k"), Credentials(username="u", password="p"))
    assert headers["X-Content-SHA256"] == "ab" * 32
    assert headers["Content-Type"] == "application/gzip"
    assert headers["X-Courier-File-Count"] == "3"
    assert not any(h.lower() == "content-encoding" for h in headers)
    assert "X-Courier-Replay" not in headers


def test_bearer_token_shape():
    assert Credentials(token="tok").authorization() == "Bearer tok"


def test_credentials_repr_hides_secrets():
    text = repr(Credentials(username="user", password="hunter2")) + repr(Credentials(token="tok-123"))
    assert "hunter2" not in text and "tok-123" not in text
