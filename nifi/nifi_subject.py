#!/usr/bin/env python3
"""Print a certificate's subject (or issuer) exactly as NiFi compares it (courier.client.subject / .issuer).

HandleHttpRequest writes ``http.subject.dn`` with NiFi's StandardPrincipalFormatter, which is Java's
``X500Principal.getName("RFC1779", {UID, DC})``: most specific element first, ``, `` between elements, `` + `` inside
a multi-valued element; only CN, C, L, ST, O, OU, STREET, UID and DC by name, any other attribute (emailAddress,
serialNumber, title, ...) as ``OID.<dotted>``; and a value in double quotes (``"`` and ``\\`` escaped with ``\\``)
when it holds any of ``, + = < > # ; " \\`` or a line break, starts or ends with a space, or has two spaces in a
row: ``O=Example #1`` is ``O="Example #1"``. A value that already starts and ends with ``"`` is printed as it is, so
the value ``"Example #1"`` (quotes included) prints the same ``O="Example #1"``: the string does not tell those two
subjects apart. ``openssl x509 -subject`` prints none of this.

    python3 nifi/nifi_subject.py courier-client.pem            # courier.client.subject
    python3 nifi/nifi_subject.py --issuer courier-client.pem   # courier.client.issuer

Needs only the ``cryptography`` package. Checked against NiFi's own formatter on subjects with ``#``, ``,``, ``+``,
``"``, quote-wrapped values and emailAddress/serialNumber/title
(``FlowContractTest.subjectHelperPrintsWhatNiFisFormatterPrints``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

# The names RFC 1779 style gives (sun.security.x509.AVAKeyword's RFC 1779 keywords) plus the two NiFi's formatter
# adds (UID, DC); any other attribute is printed as OID.<dotted>.
_KEYWORDS = {
    NameOID.COMMON_NAME: "CN",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.USER_ID: "UID",
    NameOID.DOMAIN_COMPONENT: "DC",
}
_SPECIAL = set(',+=\n<>#;"\\')


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _value(text: str) -> str:
    if len(text) > 1 and text[0] == text[-1] == '"':  # Java keeps the outer quotes as they are, escapes the inside
        return '"' + _escaped(text[1:-1]) + '"'
    quote = any(c in _SPECIAL for c in text) or text[:1] in (" ", "\n") or text[-1:] in (" ", "\n") or _double_space(text)
    return '"' + _escaped(text) + '"' if quote else _escaped(text)


def _double_space(text: str) -> bool:
    return any(a in " \n" and b in " \n" for a, b in zip(text, text[1:], strict=False))


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
