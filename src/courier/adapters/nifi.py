"""POST a bundle to NiFi over HTTPS (httpx, explicit TLS context).

Verification is always on for https: against the configured CA bundle, or the
system trust store when none is configured; TLS 1.2 is the client minimum.
Plain http is only reachable when the settings explicitly allow it.

A bundle body in a spool is streamed, never read whole: httpx sends a generator
of chunks, and the explicit ``Content-Length`` (the bundle's size) makes it a
plain body of known length rather than a chunked one, as NiFi's listener expects.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx

from courier.adapters.secrets import CredentialsSource
from courier.bundle import Body
from courier.delivery import error_for_status, is_auth_failure, request_headers
from courier.errors import NiFiUnavailableError


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class NiFiClient:
    """POSTs bundles to NiFi's HTTPS listener and turns its answer into a status or a ``DeliveryError``.

    One pooled HTTP client per warm execution environment (keep-alive across
    invocations). A 401/403 re-reads the secret once and retries, for the
    rotation window; every other answer is final here (the aggregator decides
    what a 422 or an outage means).

    Parameters
    ----------
    url
        NiFi's listener, e.g. ``https://nifi.internal:9443/contentListener``.
    credentials
        Where the credentials come from: anything with ``get(refresh=False) -> Credentials``
        (``adapters.secrets.CredentialsSource`` in production, which caches the secret).
        ``refresh=True`` is asked once after a 401/403.
    ca_bundle
        PEM file of the CA that signed NiFi's certificate; None trusts the system store.
        Verification is always on; TLS 1.2 is the minimum.
    connect_timeout
        Seconds to connect (and to wait for a pooled connection).
    read_timeout
        Seconds to wait for each read or write of the request.
    transport
        The httpx transport to send through; None (production) uses httpx's own, with the
        TLS context above. Tests pass ``httpx.MockTransport`` (a fake NiFi) or a spy that
        wraps a real ``httpx.HTTPTransport``: a transport given here brings its own TLS
        (``ca_bundle`` is not used then).

    Example
    -------
    >>> nifi = NiFiClient(  # doctest: +SKIP
    ...     "https://nifi.internal:9443/contentListener",
    ...     CredentialsSource(boto3.client("secretsmanager"), "courier/nifi", max_age_seconds=300),
    ...     ca_bundle="/opt/courier/nifi-ca.pem",
    ...     connect_timeout=5,
    ...     read_timeout=30,
    ... )
    >>> nifi.post(bundle.data, bundle.sha256, bundle.bundle_id, bundle.file_count, key)  # doctest: +SKIP
    200
    """

    def __init__(
        self,
        url: str,
        credentials: CredentialsSource,
        ca_bundle: str | None,
        connect_timeout: float,
        read_timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.credentials = credentials
        timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
        if transport is None:
            self.http = httpx.Client(verify=tls_context(ca_bundle), timeout=timeout, follow_redirects=False)
        else:
            # httpx sends every request through a given transport (no proxy mounts either) and never
            # reads ``verify`` then: loading the trust store for it would only cost time (~20 ms).
            self.http = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def post(
        self,
        data: bytes | Body,
        sha256: str,
        bundle_id: str,
        file_count: int,
        archive_key: str,
        replay: bool = False,
        probe: bool = False,
    ) -> int:
        """Deliver once; re-read the secret and try once more on 401/403. Returns the 2xx status."""
        kind = {"replay": replay, "probe": probe}
        status = self._post_once(data, sha256, bundle_id, file_count, archive_key, refresh=False, **kind)
        if is_auth_failure(status):
            status = self._post_once(data, sha256, bundle_id, file_count, archive_key, refresh=True, **kind)
        error = error_for_status(status)
        if error is not None:
            raise error
        return status

    def _post_once(
        self,
        data: bytes | Body,
        sha256: str,
        bundle_id: str,
        file_count: int,
        archive_key: str,
        refresh: bool,
        replay: bool,
        probe: bool,
    ) -> int:
        credentials = self.credentials.get(refresh=refresh)
        headers = request_headers(sha256, bundle_id, file_count, archive_key, credentials, replay=replay, probe=probe)
        content: bytes | Iterator[bytes] = data if isinstance(data, bytes) else data.chunks()
        if not isinstance(data, bytes):
            # httpx would send a generator chunked; with the length given it sends a plain body of that length.
            headers = {**headers, "Content-Length": str(data.size)}
        try:
            response = self.http.post(self.url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise NiFiUnavailableError(f"NiFi timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise NiFiUnavailableError(f"NiFi unreachable ({type(exc).__name__})") from exc
        return response.status_code

    def close(self) -> None:
        self.http.close()
