#!/usr/bin/env python3
"""Print a certificate's subject (or issuer) exactly as NiFi compares it (courier.client.subject / .issuer).

HandleHttpRequest writes ``http.subject.dn`` with NiFi's StandardPrincipalFormatter, which is Java's
``X500Principal.toString()``: RFC 1779 style, most specific element first, ``, `` between elements, `` + `` inside a
multi-valued element, and a value in double quotes (``"`` and ``\\`` escaped with ``\\``) when it holds any of
``, + = < > # ; " \\`` or a line break, starts or ends with a space, or has two spaces in a row: ``O=Example #1``
is ``O="Example #1"``. ``openssl x509 -subject`` prints none of this quoting.

    python3 nifi/nifi_subject.py courier-client.pem            # courier.client.subject
    python3 nifi/nifi_subject.py --issuer courier-client.pem   # courier.client.issuer

Needs only the ``cryptography`` package. Checked against NiFi's own formatter on subjects with ``#``, ``,``, ``+``
and ``"`` (``FlowContractTest.subjectHelperPrintsWhatNiFisFormatterPrints``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

# Java's X500Name keywords for X500Principal.toString() (sun.security.x509.AVAKeyword, its default style);
# any other attribute is printed as OID.<dotted>.
_KEYWORDS = {
    NameOID.COMMON_NAME: "CN",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.TITLE: "T",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.DN_QUALIFIER: "DNQUALIFIER",
    NameOID.SURNAME: "SURNAME",
    NameOID.GIVEN_NAME: "GIVENNAME",
    NameOID.INITIALS: "INITIALS",
    NameOID.GENERATION_QUALIFIER: "GENERATION",
    NameOID.EMAIL_ADDRESS: "EMAILADDRESS",
    NameOID.USER_ID: "UID",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
}
_SPECIAL = set(',+=\n<>#;"\\')


def _value(text: str) -> str:
    quote = any(c in _SPECIAL for c in text) or text[:1] == " " or text[-1:] == " " or "  " in text
    if not quote:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def nifi_subject(certificate: x509.Certificate, issuer: bool = False) -> str:
    """The subject (or the issuer) as NiFi's StandardPrincipalFormatter prints it."""
    name = certificate.issuer if issuer else certificate.subject
    elements = []
    for rdn in reversed(list(name.rdns)):
        parts = [f"{_KEYWORDS.get(a.oid, 'OID.' + a.oid.dotted_string)}={_value(str(a.value))}" for a in rdn]
        elements.append(" + ".join(parts))
    return ", ".join(elements)


def main(argv: list[str]) -> int:
    issuer = argv[:1] == ["--issuer"]
    argv = argv[1:] if issuer else argv
    if len(argv) != 1:
        print("usage: nifi_subject.py [--issuer] CERTIFICATE.pem", file=sys.stderr)
        return 2
    try:
        certificate = x509.load_pem_x509_certificate(Path(argv[0]).read_bytes())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read a PEM certificate from {argv[0]}: {exc}", file=sys.stderr)
        return 1
    print(nifi_subject(certificate, issuer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
