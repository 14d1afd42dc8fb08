"""POST a bundle to NiFi over HTTPS (httpx, explicit TLS context).

Verification is always on for https: against the configured CA bundle and the
secret's ``ca_pem``, or the system trust store when neither is given; TLS 1.2
is the client minimum. Plain http is only reachable when the settings
explicitly allow it.

The client certificate (mTLS) comes from the secret. Python's ``ssl`` loads a
certificate chain only from a file path (``SSLContext.load_cert_chain``; it has
no in-memory form), so the PEM is written where nothing else can read it and
gone before the first handshake: an anonymous in-memory file (``memfd_create``,
read through ``/proc/self/fd``; Linux and Lambda), or elsewhere a 0600 file in
a fresh 0700 directory, unlinked right after the load. The key never reaches a
persistent disk on Lambda and never a log.

A bundle body in a spool is streamed, never read whole: httpx sends a generator
of chunks, and the explicit ``Content-Length`` (the bundle's size) makes it a
plain body of known length rather than a chunked one, as NiFi's listener expects.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from courier.delivery import Credentials, error_for_status, is_auth_failure, request_headers
from courier.errors import NiFiAuthError, NiFiUnavailableError, SecretFormatError
from courier.ports import CredentialsProvider, Delivery

# TLS alerts and verification failures that mean "this certificate is not (or no longer) accepted": after a
# rotation, NiFi refuses the old client certificate, or presents a server certificate from the secret's new CA.
CERTIFICATE_FAILURES = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "CERTIFICATE_VERIFY_FAILED",
    }
)


def tls_context(ca_bundle: str | None, credentials: Credentials | None = None) -> ssl.SSLContext:
    """Verification on, TLS 1.2 minimum; trusts ``ca_bundle`` and the secret's ``ca_pem`` (else the system store),
    and presents the secret's client certificate when it holds one."""
    ca_pem = credentials.ca_pem if credentials else None
    context = ssl.create_default_context(cafile=ca_bundle, cadata=ca_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if credentials is not None and credentials.has_client_certificate:
        load_client_certificate(context, credentials.client_cert_pem or "", credentials.client_key_pem or "")
    return context


def load_client_certificate(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """``context.load_cert_chain`` from PEM text, through a private file that is gone once loaded."""
    with _private_pem_file(key_pem.strip() + "\n" + cert_pem.strip() + "\n") as path:
        try:
            context.load_cert_chain(path)
        except ssl.SSLError:
            # OpenSSL's message names the failing check, never the key; still, say it in our words.
            raise SecretFormatError("NiFi secret's client_key_pem and client_cert_pem do not load as a key pair") from None


@contextmanager
def _private_pem_file(text: str) -> Iterator[str]:
    data = text.encode()
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("courier-client-cert", getattr(os, "MFD_CLOEXEC", 0))
        try:
            _write_all(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="courier-") as private:  # 0700: mkdtemp's mode
        path = os.path.join(private, "client.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        try:
            yield path
        finally:
            os.unlink(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def certificate_failure(exc: BaseException) -> str | None:
    """The TLS reason when ``exc`` (an httpx error) comes from a refused or unverifiable certificate; else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            reason = getattr(current, "reason", None) or ""
            if reason in CERTIFICATE_FAILURES or isinstance(current, ssl.SSLCertVerificationError):
                return reason or "CERTIFICATE_VERIFY_FAILED"
        current = current.__cause__ or current.__context__
    return None


class NiFiClient:
    """POSTs bundles to NiFi's HTTPS listener and turns its answer into a status or a ``DeliveryError``.

    One pooled HTTP client per warm execution environment (keep-alive across
    invocations), built from the secret: it presents the secret's client
    certificate (mTLS) and sends its header credential, whichever the secret
    holds. When the secret's TLS material changes (a rotated certificate), the
    pooled client is rebuilt with it. A 401/403, or a TLS handshake that fails
    on a certificate (NiFi refusing the client certificate, or its server
    certificate no longer verifying), re-reads the secret once and retries, for
    the rotation window; every other answer is final here (the aggregator decides
    what a 422 or an outage means).

    Parameters
    ----------
    url
        NiFi's listener, e.g. ``https://nifi.internal:9443/contentListener``.
    credentials
        Where the credentials come from: anything with ``get(refresh=False) -> Credentials``
        (``adapters.secrets.CredentialsSource`` in production, which caches the secret).
        ``refresh=True`` is asked once after a 401/403 or a refused certificate.
    ca_bundle
        PEM file of the CA that signed NiFi's certificate; with the secret's ``ca_pem``, the only
        CAs trusted; with neither, the system store. Verification is always on; TLS 1.2 is the minimum.
    connect_timeout
        Seconds to connect (and to wait for a pooled connection).
    read_timeout
        Seconds to wait for each read or write of the request.
    transport
        The httpx transport to send through; None (production) uses httpx's own, with the
        TLS context above. Tests pass ``httpx.MockTransport`` (a fake NiFi) or a spy that
        wraps a real ``httpx.HTTPTransport``: a transport given here brings its own TLS
        (``ca_bundle`` and the secret's certificate are not used then).

    Example
    -------
    In production ``credentials`` is ``CredentialsSource(boto3.client("secretsmanager"), "courier/nifi", 300)``
    and there is no ``transport``; here a NiFi that accepts whatever it is sent, and a fixed credential:

    >>> from datetime import UTC, datetime
    >>> from courier.bundle import probe_bundle
    >>> from courier.delivery import Credentials
    >>> class Secret:
    ...     def get(self, refresh: bool = False) -> Credentials:
    ...         return Credentials(username="courier", password="s3cr3t")
    >>> accepting = httpx.MockTransport(lambda request: httpx.Response(200))
    >>> nifi = NiFiClient(
    ...     "https://nifi.internal:9443/contentListener",
    ...     Secret(),
    ...     ca_bundle=None,
    ...     connect_timeout=5,
    ...     read_timeout=30,
    ...     transport=accepting,
    ... )
    >>> bundle = probe_bundle(datetime(2026, 1, 1, tzinfo=UTC))
    >>> nifi.post(Delivery.of(bundle, "bundles/2026/01/01/probe.tar.gz"))
    200
    """

    def __init__(
        self,
        url: str,
        credentials: CredentialsProvider,
        ca_bundle: str | None,
        connect_timeout: float,
        read_timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.ca_bundle = ca_bundle
        self.timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
        self._lock = threading.Lock()  # the aggregator posts from a thread pool
        self._tls_identity: str | None = None
        self._http: httpx.Client | None = None
        self._retired: list[httpx.Client] = []  # clients of a rotated-out certificate
        if transport is not None:
            # httpx sends every request through a given transport (no proxy mounts either) and never
            # reads ``verify`` then: loading the trust store for it would only cost time (~20 ms).
            self._http = httpx.Client(transport=transport, timeout=self.timeout, follow_redirects=False)
            self._tls_identity = "transport"

    def http_for(self, credentials: Credentials) -> httpx.Client:
        """The pooled client for these credentials' TLS material, rebuilt when the secret's certificate changed."""
        with self._lock:
            if self._tls_identity == "transport" and self._http is not None:
                return self._http
            identity = credentials.tls_identity()
            if self._http is None or identity != self._tls_identity:
                if self._http is not None:
                    # Not closed now: other threads may be mid-request on it. Closed with the client.
                    self._retired.append(self._http)
                self._http = httpx.Client(
                    verify=tls_context(self.ca_bundle, credentials), timeout=self.timeout, follow_redirects=False
                )
                self._tls_identity = identity
            return self._http

    def post(self, delivery: Delivery) -> int:
        """Deliver once; re-read the secret and try once more on 401/403 or a refused certificate. Returns the 2xx status."""
        status = self._post_once(delivery, refresh=False)
        if isinstance(status, str) or is_auth_failure(status):
            status = self._post_once(delivery, refresh=True)
        if isinstance(status, str):
            raise NiFiAuthError(f"NiFi refused the TLS handshake on a certificate ({status})")
        error = error_for_status(status)
        if error is not None:
            raise error
        return status

    def _post_once(self, delivery: Delivery, *, refresh: bool) -> int | str:
        """NiFi's HTTP status, or the TLS reason when the handshake failed on a certificate."""
        credentials = self.credentials.get(refresh=refresh)
        headers = request_headers(delivery, credentials)
        http = self.http_for(credentials)
        data = delivery.body
        content: bytes | Iterator[bytes] = data if isinstance(data, bytes) else data.chunks()
        if not isinstance(data, bytes):
            # httpx would send a generator chunked; with the length given it sends a plain body of that length.
            headers = {**headers, "Content-Length": str(data.size)}
        try:
            response = http.post(self.url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise NiFiUnavailableError(f"NiFi timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            reason = certificate_failure(exc)
            if reason is not None:
                return reason
            raise NiFiUnavailableError(f"NiFi unreachable ({type(exc).__name__})") from exc
        return response.status_code

    def close(self) -> None:
        with self._lock:
            for http in [*self._retired, *([self._http] if self._http else [])]:
                http.close()
            self._retired.clear()
            if self._tls_identity != "transport":
                self._http, self._tls_identity = None, None
