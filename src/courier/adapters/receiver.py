"""The local NiFi receiver's admin endpoint, as `courier status` reads it for a local stack."""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import Any

from courier.errors import ReceiverUnavailableError


class HTTPSReceiverAdmin:
    """``GET <admin_url>/admin/stats`` over TLS; any failure becomes :class:`~courier.errors.ReceiverUnavailableError`.

    Parameters
    ----------
    admin_url
        Base URL of the receiver's admin endpoints (``admin_url`` of the stack file).
    ca_bundle
        PEM file of the CA that signed the receiver's certificate.
    timeout
        Seconds to wait for an answer.

    Example
    -------
    >>> receiver_admin = HTTPSReceiverAdmin("https://127.0.0.1:8443", ".courier/ca.pem")  # doctest: +SKIP
    >>> receiver_admin.stats()["distinct_files"]  # doctest: +SKIP
    120
    """

    def __init__(self, admin_url: str, ca_bundle: str, timeout: float = 5.0) -> None:
        self.admin_url = admin_url
        self.ca_bundle = ca_bundle
        self.timeout = timeout

    def stats(self) -> dict[str, Any]:
        url = f"{self.admin_url}/admin/stats"
        try:
            context = ssl.create_default_context(cafile=self.ca_bundle)
            with urllib.request.urlopen(url, context=context, timeout=self.timeout) as response:  # noqa: S310 - https only
                return json.load(response)
        except (OSError, ValueError) as exc:
            raise ReceiverUnavailableError(f"the NiFi receiver did not answer at {url}: {exc}") from exc
