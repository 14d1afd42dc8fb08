"""The local NiFi receiver's admin endpoint, as `courier status` reads it for a local stack."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from courier.errors import ReceiverUnavailableError
from courier.stackfile import StackInfo, read_admin_token


class HTTPSReceiverAdmin:
    """``GET <admin_url>/admin/stats`` over TLS; any failure becomes :class:`~courier.errors.ReceiverUnavailableError`.

    Parameters
    ----------
    admin_url
        Base URL of the receiver's admin endpoints (``admin_url`` of the stack file).
    ca_bundle
        PEM file of the CA that signed the receiver's certificate.
    token
        The stack's admin token (``<state-dir>/admin.token``; :meth:`of` reads it), sent as ``Authorization: Bearer``.
    timeout
        Seconds to wait for an answer.

    Example
    -------
    >>> receiver_admin = HTTPSReceiverAdmin.of(read_stack_file(Path(".courier")))  # doctest: +SKIP
    >>> receiver_admin.stats()["distinct_files"]  # doctest: +SKIP
    120
    """

    def __init__(self, admin_url: str, ca_bundle: str, token: str, timeout: float = 5.0) -> None:
        self.admin_url = admin_url
        self.ca_bundle = ca_bundle
        self.token = token
        self.timeout = timeout

    @classmethod
    def of(cls, stack: StackInfo) -> HTTPSReceiverAdmin:
        """The admin API of a running local stack, with the token its stack file names."""
        try:
            token = read_admin_token(stack.admin_token_file)
        except OSError as exc:
            raise ReceiverUnavailableError(f"cannot read the receiver's admin token {stack.admin_token_file!r}: {exc}") from exc
        return cls(stack.admin_url, stack.ca_bundle, token)

    def stats(self) -> dict[str, Any]:
        return self._call("/admin/stats")

    def set_fault(self, mode: str) -> dict[str, Any]:
        """The receiver's NiFi fault mode (``ok``, ``unavailable``, ``ack-lost``, ...)."""
        return self._call("/admin/fault", {"mode": mode})

    def set_aws_fault(self, service: str, error: str, rate: float, operation: str | None = None) -> dict[str, Any]:
        """Fail ``rate`` of the function's requests to ``service`` with AWS's ``error``; rate 0 clears the service."""
        return self._call("/admin/aws-fault", {"service": service, "error": error, "rate": rate, "operation": operation})

    def aws_faults(self) -> dict[str, Any]:
        return self._call("/admin/aws-fault")

    def credentials(self) -> dict[str, Any]:
        """What the receiver accepts now and pending (subjects, whether a header credential is set; no secret)."""
        return self._call("/admin/credentials")

    def rotate_credentials(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"pending": <secret shape>}``, ``{"promote": True}`` or ``{"cancel": True}``."""
        return self._call("/admin/credentials", request)

    def issue_client_cert(self, common_name: str) -> dict[str, str]:
        """A client certificate from the local stack's CA: ``cert_pem``, ``key_pem``, ``subject``."""
        return self._call("/admin/client-cert", {"common_name": common_name})

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.admin_url}{path}"
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(url, data=data, headers=headers, method="GET" if data is None else "POST")
        try:
            context = ssl.create_default_context(cafile=self.ca_bundle)
            with urllib.request.urlopen(request, context=context, timeout=self.timeout) as response:  # noqa: S310 - https only
                answer: dict[str, Any] = json.load(response)
                return answer
        except urllib.error.HTTPError as exc:
            detail = _error_of(exc)
            raise ReceiverUnavailableError(f"the local stack refused {path}: {detail}") from exc
        except (OSError, ValueError) as exc:
            raise ReceiverUnavailableError(f"the NiFi receiver did not answer at {url}: {exc}") from exc


def _error_of(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(exc).get("error", exc.reason))
    except (ValueError, OSError):
        return str(exc.reason)
