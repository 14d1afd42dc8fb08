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
import enum
import hashlib
from dataclasses import dataclass, field

from courier.bundle import Body, Bundle
from courier.errors import (
    DeliveryError,
    NiFiAuthError,
    NiFiBodyLimitError,
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
    """What courier presents to NiFi: a client certificate (mTLS), a header credential, or both.

    The header credential is basic auth (``username`` + ``password``) or a bearer ``token``;
    the client certificate is ``client_cert_pem`` (the certificate, optionally followed by its
    chain) with ``client_key_pem`` (an unencrypted PEM private key). ``ca_pem`` is the CA that
    signed NiFi's server certificate, when the secret carries it. ``repr`` never shows the
    password, token or key, so a stray log of this object is safe.

    Example
    -------
    >>> Credentials(username="courier", password="s3cr3t").authorization()
    'Basic Y291cmllcjpzM2NyM3Q='
    >>> Credentials(client_cert_pem="-----BEGIN CERTIFICATE-----...", client_key_pem="...").authorization() is None
    True
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    client_cert_pem: str | None = field(default=None, repr=False)
    client_key_pem: str | None = field(default=None, repr=False)
    ca_pem: str | None = field(default=None, repr=False)

    @property
    def has_header_credential(self) -> bool:
        return bool(self.token) or (self.username is not None and self.password is not None)

    @property
    def has_client_certificate(self) -> bool:
        return bool(self.client_cert_pem and self.client_key_pem)

    def authorization(self) -> str | None:
        """The ``Authorization`` header, or None when only the client certificate authenticates."""
        if self.token:
            return f"Bearer {self.token}"
        if self.username is None or self.password is None:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def tls_identity(self) -> str:
        """A digest of the TLS material (certificate, key, CA): the client's TLS context is rebuilt when it changes."""
        digest = hashlib.sha256()
        for part in (self.client_cert_pem, self.client_key_pem, self.ca_pem):
            digest.update((part or "").encode() + b"\0")
        return digest.hexdigest()


def credential_verifier(salt: str, authorization: str) -> str:
    """What NiFi's flow keeps of a header credential (``courier.credential.sha256``): hex SHA-256 of its salt
    (``courier.credential.salt``) followed by the exact ``Authorization`` header value."""
    return hashlib.sha256((salt + authorization).encode()).hexdigest()


class Purpose(enum.Enum):
    """Why a bundle is POSTed; NiFi's flow routes on it (``X-Courier-Replay``, ``X-Courier-Probe``)."""

    DELIVERY = "delivery"  # a bundle's first POST, or its resend
    REPLAY = "replay"  # an operator's replay from the archive
    PROBE = "probe"  # the controller's canary: NiFi drops it


@dataclass(frozen=True)
class Delivery:
    """One POST to NiFi: the bundle's bytes and what the headers say of them.

    Example
    -------
    >>> Delivery(b"...", "ab" * 32, "bundle-1", 3, "bundles/k.tar.gz").purpose
    <Purpose.DELIVERY: 'delivery'>
    """

    body: bytes | Body
    sha256: str
    bundle_id: str
    file_count: int
    archive_key: str
    purpose: Purpose = Purpose.DELIVERY

    @classmethod
    def of(cls, bundle: Bundle, archive_key: str) -> Delivery:
        """A built (or archived) bundle's delivery, streamed from its spool."""
        return cls(bundle.body, bundle.sha256, bundle.bundle_id, bundle.file_count, archive_key)


def request_headers(delivery: Delivery, credentials: Credentials) -> dict[str, str]:
    headers = {
        "Content-Type": CONTENT_TYPE,
        SHA256_HEADER: delivery.sha256,
        BUNDLE_ID_HEADER: delivery.bundle_id,
        FILE_COUNT_HEADER: str(delivery.file_count),
        ARCHIVE_KEY_HEADER: delivery.archive_key,
    }
    authorization = credentials.authorization()
    if authorization is not None:  # mTLS alone sends none
        headers["Authorization"] = authorization
    if delivery.purpose is Purpose.REPLAY:
        headers[REPLAY_HEADER] = "true"
    elif delivery.purpose is Purpose.PROBE:
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
    if status == 413:
        return NiFiBodyLimitError(f"NiFi rejected the request (HTTP {status}): above its body limit", status)
    return NiFiRejectedError(f"NiFi rejected the request (HTTP {status})", status)
