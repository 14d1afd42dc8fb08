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


def test_each_nifi_gets_its_own_free_management_port_not_the_fixed_52020(tmp_path, monkeypatch):
    started: list[list[str]] = []

    class Exited:
        pid, returncode = 1, 0

        def __init__(self, command, **_kwargs) -> None:
            started.append(command)

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(real_nifi, "java_home", lambda: tmp_path)
    monkeypatch.setattr(real_nifi.subprocess, "Popen", Exited)
    for _ in range(2):
        with pytest.raises(real_nifi.RealNiFiError, match="exited"):
            real_nifi.RealNiFi(tmp_path, 18080).start()
    addresses = [arg.split("=", 1)[1] for command in started for arg in command if "management.server.address" in arg]
    assert len(addresses) == 2 and all(a.startswith("127.0.0.1:") and a != "127.0.0.1:52020" for a in addresses)
