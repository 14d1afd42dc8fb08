"""courier.local.real_nifi without Java: the pinned checksums are enforced and NiFi's UI/REST binds 127.0.0.1 only."""

from __future__ import annotations

import pytest

from courier.local import real_nifi


@pytest.fixture
def home(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "nifi-api-2.0.0.jar").write_bytes(b"served bytes")
    monkeypatch.setattr(real_nifi, "CHECKSUMS", tmp_path / "checksums.sha256")
    real_nifi.write_checksums(tmp_path)
    return tmp_path


def test_assembled_lib_matching_the_pinned_checksums_passes(home):
    real_nifi.check_checksums(home)


def test_a_changed_or_extra_file_in_lib_fails_the_checksum_check(home):
    (home / "lib" / "nifi-api-2.0.0.jar").write_bytes(b"other bytes")
    with pytest.raises(real_nifi.RealNiFiError, match="nifi-api-2.0.0.jar"):
        real_nifi.check_checksums(home)
    real_nifi.write_checksums(home)
    (home / "lib" / "unpinned.jar").write_bytes(b"x")
    with pytest.raises(real_nifi.RealNiFiError, match="unpinned.jar"):
        real_nifi.check_checksums(home)


def test_nifi_listens_on_loopback_plain_http_only_and_keeps_its_sensitive_key(tmp_path):
    real_nifi.write_conf(tmp_path, 18080)
    written = (tmp_path / "conf" / "nifi.properties").read_text()
    properties = dict(line.split("=", 1) for line in written.splitlines() if "=" in line)
    assert properties["nifi.web.http.host"] == "127.0.0.1" and properties["nifi.web.http.port"] == "18080"
    assert properties["nifi.web.https.port"] == "" and properties["nifi.cluster.is.node"] == "false"
    real_nifi.write_conf(tmp_path, 18081)  # a restart must decrypt what the first start encrypted
    again = dict(line.split("=", 1) for line in (tmp_path / "conf" / "nifi.properties").read_text().splitlines() if "=" in line)
    assert again["nifi.sensitive.props.key"] == properties["nifi.sensitive.props.key"] != ""
