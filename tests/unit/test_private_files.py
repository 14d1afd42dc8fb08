"""Key and token files are written afresh with explicit modes, whatever was there before; client certificates name an identity."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import trustme
from cryptography import x509

from courier.local.receiver_auth import CLIENT_IDENTITY, issue_client_certificate
from courier.stackfile import ADMIN_TOKEN_FILE, read_admin_token, write_admin_token, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_key_file_left_world_readable_is_replaced_private(tmp_path: Path):
    key = tmp_path / "client.key"
    key.write_text("old")
    key.chmod(0o644)
    write_private(key, "new key")
    assert (mode(key), key.read_text()) == (0o600, "new key")


def test_a_symlink_where_the_key_goes_is_replaced_not_followed(tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    link = tmp_path / "client.key"
    link.symlink_to(elsewhere)
    write_private(link, "key")
    assert not link.is_symlink() and mode(link) == 0o600 and elsewhere.read_text() == "untouched"


def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path):
    old = os.umask(0o077)
    try:
        write_private(tmp_path / "client.pem", "cert", 0o644)
    finally:
        os.umask(old)
    assert mode(tmp_path / "client.pem") == 0o644


def test_each_admin_token_is_new_and_private(tmp_path: Path):
    first, second = write_admin_token(tmp_path), write_admin_token(tmp_path)
    assert first != second and read_admin_token(tmp_path / ADMIN_TOKEN_FILE) == second
    assert mode(tmp_path / ADMIN_TOKEN_FILE) == 0o600


def test_a_client_certificate_names_an_identity_in_its_subject_alternative_name():
    """cryptography 51 refuses the empty SubjectAlternativeName trustme writes for a certificate with no identity."""
    issued = issue_client_certificate(trustme.CA(), "courier-2027")
    cert = x509.load_pem_x509_certificate(issued["cert_pem"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [CLIENT_IDENTITY]
    assert issued["subject"] == "CN=courier-2027, OU=delivery, O=courier local"
