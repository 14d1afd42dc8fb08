"""What to send NiFi and what its answer means (pure).

The contract (see ``nifi/README.md``): NiFi hashes the body and answers 200
when the SHA-256 equals ``X-Content-SHA256``, 422 when it does not, 401/403 on
bad credentials, 5xx/503 when it cannot take data now.

``Content-Encoding`` is never set: the gzip bytes are the payload, and whatever
honors that header (NiFi's ListenHTTP, a decompressing proxy) would un-gzip the
body, so no hash would ever match (HandleHttpRequest itself keeps the bytes).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from courier.errors import (
    DeliveryError,
    NiFiAuthError,
    NiFiHashRejectedError,
    NiFiRejectedError,
    NiFiUnavailableError,
)

CONTENT_TYPE = "application/gzip"
SHA256_HEADER = "X-Content-SHA256"
BUNDLE_ID_HEADER = "X-Courier-Bundle-Id"
FILE_COUNT_HEADER = "X-Courier-File-Count"
ARCHIVE_KEY_HEADER = "X-Courier-Archive-Key"
REPLAY_HEADER = "X-Courier-Replay"
# A canary of the breaker controller: NiFi checks it like any bundle (TLS, credentials, hash), answers, then drops it.
PROBE_HEADER = "X-Courier-Probe"


@dataclass(frozen=True)
class Credentials:
    """NiFi credentials: basic auth (username + password) or a bearer token.

    ``repr`` never shows the secret parts, so a stray log of this object is safe.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def authorization(self) -> str:
        if self.token:
            return f"Bearer {self.token}"
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def request_headers(
    sha256: str,
    bundle_id: str,
    file_count: int,
    archive_key: str,
    credentials: Credentials,
    replay: bool = False,
    probe: bool = False,
) -> dict[str, str]:
    headers = {
        "Content-Type": CONTENT_TYPE,
        SHA256_HEADER: sha256,
        BUNDLE_ID_HEADER: bundle_id,
        FILE_COUNT_HEADER: str(file_count),
        ARCHIVE_KEY_HEADER: archive_key,
        "Authorization": credentials.authorization(),
    }
    if replay:
        headers[REPLAY_HEADER] = "true"
    if probe:
        headers[PROBE_HEADER] = "true"
    return headers


def is_auth_failure(status: int) -> bool:
    return status in (401, 403)


def error_for_status(status: int) -> DeliveryError | None:
    """None for a 2xx acknowledgement; otherwise the error that status means."""
    if 200 <= status < 300:
        return None
    if status == 422:
        return NiFiHashRejectedError("NiFi rejected the bundle: SHA-256 mismatch (HTTP 422)", status)
    if is_auth_failure(status):
        return NiFiAuthError(f"NiFi refused the credentials (HTTP {status})", status)
    if status >= 500 or status in (408, 429):
        return NiFiUnavailableError(f"NiFi unavailable (HTTP {status})", status)
    return NiFiRejectedError(f"NiFi rejected the request (HTTP {status})", status)
