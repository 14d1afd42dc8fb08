"""Who may deliver to the local NiFi receiver: the flow's client checks, with a rotation window.

The NiFi flow keeps two things per client generation: the allowed subject of
a client certificate (mTLS) and the salted SHA-256 of the ``Authorization``
header (the header credential). The receiver keeps the same, never the
password itself, and during a rotation one generation more: the pending one,
accepted beside the current until it is promoted. The flow's parameters map
one to one:

=====================  ==================================================
receiver               flow parameter
=====================  ==================================================
current.subject        ``courier.client.subject``
current verifier       ``courier.credential.sha256``
pending.subject        ``courier.client.subject.next``
pending verifier       ``courier.credential.sha256.next``
salt                   ``courier.credential.salt`` (one for both)
=====================  ==================================================

``accept-pending`` is setting the ``.next`` parameters; ``promote`` is moving
them into the current ones and emptying them.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from courier.delivery import Credentials, credential_verifier


def client_subject(certificate: bytes | str) -> str:
    """The subject DN of a certificate (DER bytes or PEM text) as NiFi prints ``http.subject.dn`` and as the
    flow's ``courier.client.subject`` holds it: most specific first, ``", "`` between elements
    (``CN=courier, O=courier local``)."""
    return _distinguished_name(certificate, issuer=False)


def client_issuer(certificate: bytes | str) -> str:
    """The issuer DN of a certificate, written as :func:`client_subject` writes subjects (the flow's
    ``courier.client.issuer``, NiFi's ``http.issuer.dn``)."""
    return _distinguished_name(certificate, issuer=True)


def _distinguished_name(certificate: bytes | str, issuer: bool) -> str:
    from cryptography import x509

    if isinstance(certificate, str):
        cert = x509.load_pem_x509_certificate(certificate.encode())
    else:
        cert = x509.load_der_x509_certificate(certificate)
    name = cert.issuer if issuer else cert.subject
    return ", ".join(rdn.rfc4514_string() for rdn in reversed(name.rdns))


@dataclass(frozen=True)
class AcceptedClient:
    """One generation of accepted credentials.

    Parameters
    ----------
    subject
        Subject DN of the allowed client certificate (:func:`client_subject`); None: no certificate is allowed.
    authorization_sha256
        :func:`~courier.delivery.credential_verifier` of the accepted ``Authorization`` header; None: no header credential.
    issuer
        Issuer DN of the allowed client certificate (:func:`client_issuer`): a truststore may trust other CAs too,
        and they must not vouch for courier's subject (the flow's ``courier.client.issuer``).

    Example
    -------
    >>> AcceptedClient.of(Credentials(username="courier", password="pw"), salt="s").subject is None
    True
    """

    subject: str | None = None
    authorization_sha256: str | None = None
    issuer: str | None = None

    @classmethod
    def of(cls, credentials: Credentials, salt: str) -> AcceptedClient:
        header = credentials.authorization()
        cert = credentials.client_cert_pem
        return cls(
            subject=client_subject(cert) if cert else None,
            authorization_sha256=credential_verifier(salt, header) if header else None,
            issuer=client_issuer(cert) if cert else None,
        )

    def describe(self) -> dict[str, Any]:
        return {"client_subject": self.subject, "header_credential": self.authorization_sha256 is not None}


class AcceptedClients:
    """The current generation, and the pending one during a rotation; thread-safe.

    Parameters
    ----------
    current
        What is accepted now.
    salt
        The salt of the header credential hash (random per receiver). Not a secret, as the flow's
        ``courier.credential.salt`` is not a sensitive parameter (RouteOnAttribute cannot reference one):
        it only keeps a verifier from being looked up in precomputed tables; the credential's own
        randomness is what protects it.

    Example
    -------
    >>> clients = AcceptedClients.of(Credentials(token="t"))
    >>> clients.refusal(None, "Bearer t") is None, clients.refusal(None, "Bearer x")
    (True, 401)
    """

    def __init__(self, current: AcceptedClient, salt: str) -> None:
        self.salt = salt
        self.current = current
        self.pending: AcceptedClient | None = None
        self.lock = threading.Lock()

    @classmethod
    def of(cls, credentials: Credentials) -> AcceptedClients:
        salt = secrets.token_hex(16)
        return cls(AcceptedClient.of(credentials, salt), salt)

    def replace(self, credentials: Credentials) -> None:
        with self.lock:
            self.current, self.pending = AcceptedClient.of(credentials, self.salt), None

    def refusal(self, peer_certificate: bytes | None, authorization: str | None) -> int | None:
        """None when allowed; 403 for a certificate (from a trusted CA: TLS checked that) whose subject or issuer
        is not allowed; 401 without a certificate and without a matching header credential."""
        with self.lock:
            generations = [g for g in (self.current, self.pending) if g is not None]
        if peer_certificate:
            presented = (client_subject(peer_certificate), client_issuer(peer_certificate))
            return None if any((g.subject, g.issuer) == presented for g in generations) else 403
        if authorization is None:
            return 401
        verifier = credential_verifier(self.salt, authorization)
        hashes = [g.authorization_sha256 for g in generations if g.authorization_sha256]
        return None if any(hmac.compare_digest(verifier, h) for h in hashes) else 401

    def rotate(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"pending": {...}}``, ``{"promote": true}`` or ``{"cancel": true}``; returns :meth:`snapshot`."""
        if not isinstance(request, dict):
            raise ValueError('expected {"pending": {...}}, {"promote": true} or {"cancel": true}')
        with self.lock:
            if "pending" in request:
                self.pending = self._generation(request["pending"])
            elif request.get("promote"):
                if self.pending is None:
                    raise ValueError("no pending credentials to promote")
                self.current, self.pending = self.pending, None
            elif request.get("cancel"):
                self.pending = None
            else:
                raise ValueError('expected {"pending": {...}}, {"promote": true} or {"cancel": true}')
        return self.snapshot()

    def _generation(self, pending: Any) -> AcceptedClient:
        """From the secret's shape (the receiver reads only the certificate's subject: no key needed) or ``client_subject``."""
        if not isinstance(pending, dict):
            raise ValueError('pending must be a JSON object: the secret\'s shape, or {"client_subject": ...}')
        text = {k: v for k, v in pending.items() if isinstance(v, str) and v}
        subject = text.get("client_subject")
        issuer = self.current.issuer  # the flow has one courier.client.issuer for both generations
        try:
            if "client_cert_pem" in text:
                subject = subject or client_subject(text["client_cert_pem"])
                issuer = client_issuer(text["client_cert_pem"])
        except ValueError:
            raise ValueError("pending client_cert_pem is not a PEM certificate") from None
        header = Credentials(
            username=text.get("username"), password=text.get("password"), token=text.get("token")
        ).authorization()
        if subject is None and header is None:
            raise ValueError("pending credentials hold neither a client certificate nor a header credential")
        return AcceptedClient(subject, credential_verifier(self.salt, header) if header else None, issuer)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "current": self.current.describe(),
                "pending": self.pending.describe() if self.pending else None,
            }


# Every client certificate names this identity in its SubjectAlternativeName; NiFi allows by subject DN.
CLIENT_IDENTITY = "client.courier.local"


def issue_client_certificate(ca: Any, common_name: str) -> dict[str, str]:
    """A client certificate from the stack's trustme CA: ``cert_pem``, ``key_pem``, ``subject``."""
    # Without an identity trustme writes an empty SubjectAlternativeName, which cryptography 51 and Java's TLS
    # (a real NiFi's) refuse as a bad certificate.
    leaf = ca.issue_cert(
        CLIENT_IDENTITY, common_name=common_name, organization_name="courier local", organization_unit_name="delivery"
    )
    cert_pem = b"".join(blob.bytes() for blob in leaf.cert_chain_pems).decode()
    return {"cert_pem": cert_pem, "key_pem": leaf.private_key_pem.bytes().decode(), "subject": client_subject(cert_pem)}
