"""nifi/nifi_subject.py prints a certificate's subject as NiFi 2.3.0's StandardPrincipalFormatter does.

The expected strings were printed by NiFi's own formatter (nifi-security-cert 2.3.0) for the same names; the Maven
contract test (FlowContractTest.subjectHelperPrintsWhatNiFisFormatterPrints) compares the two on real certificates.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from cryptography import x509
from cryptography.x509.oid import NameOID

NIFI = Path(__file__).parents[2] / "nifi"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nifi_subject = _load(NIFI / "nifi_subject.py")
post_cases = _load(NIFI / "contract-test" / "post_cases.py")  # the certificates the Maven test compares


def _certificate(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    return x509.load_pem_x509_certificate(post_cases.self_signed_pem(name))


def test_attributes_rfc_1779_does_not_name_are_printed_as_their_oid() -> None:
    certificate = _certificate(
        (NameOID.EMAIL_ADDRESS, "ops@example.com"),
        (NameOID.TITLE, "t"),
        (NameOID.SERIAL_NUMBER, "42"),
        (NameOID.DOMAIN_COMPONENT, "example"),
        (NameOID.USER_ID, "u1"),
        (NameOID.COMMON_NAME, "courier"),
    )
    assert nifi_subject.nifi_subject(certificate) == (
        "CN=courier, UID=u1, DC=example, OID.2.5.4.5=42, OID.2.5.4.12=t, OID.1.2.840.113549.1.9.1=ops@example.com"
    )


def test_a_quote_wrapped_value_prints_like_the_quoted_value_as_nifi_prints_it() -> None:
    quoted = _certificate((NameOID.ORGANIZATION_NAME, "Example #1"), (NameOID.COMMON_NAME, "courier"))
    wrapped = _certificate((NameOID.ORGANIZATION_NAME, '"Example #1"'), (NameOID.COMMON_NAME, "courier"))
    assert nifi_subject.nifi_subject(quoted) == nifi_subject.nifi_subject(wrapped) == 'CN=courier, O="Example #1"'
