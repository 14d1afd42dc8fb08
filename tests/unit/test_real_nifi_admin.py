"""With `courier local up --nifi real` the local receiver keeps only the store and the admin API: it refuses, in one
line, what it cannot do to a real NiFi (faults, credential rotation) and any bundle, and still serves the rest."""

from __future__ import annotations

import pytest

from courier.adapters.receiver import HTTPSReceiverAdmin
from courier.delivery import Credentials
from courier.errors import ReceiverUnavailableError
from courier.local.fake_nifi import FakeNiFi
from courier.local.stack import REAL_NIFI_REFUSAL


@pytest.fixture
def admin(tmp_path):
    receiver = FakeNiFi(tmp_path, Credentials(token="t")).start()
    receiver.state.real_nifi = REAL_NIFI_REFUSAL
    client = HTTPSReceiverAdmin(f"http://127.0.0.1:{receiver.port}", ca_bundle="", token=receiver.state.admin_token)
    yield receiver, client
    receiver.stop()


def test_nifi_faults_and_rotation_are_refused_with_the_reason(admin):
    receiver, client = admin
    with pytest.raises(ReceiverUnavailableError, match="not supported with --nifi real"):
        client.set_fault("unavailable")
    with pytest.raises(ReceiverUnavailableError, match="not supported with --nifi real"):
        client.rotate_credentials({"promote": True})
    assert receiver.state.mode == "ok"


def test_the_admin_port_takes_no_bundle_and_still_serves_stats(admin, tmp_path):
    import urllib.error
    import urllib.request

    receiver, client = admin
    request = urllib.request.Request(f"http://127.0.0.1:{receiver.port}/contentListener", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback test server
    assert refused.value.code == 404
    assert client.stats()["mode"] == "real NiFi" and not list((tmp_path / "received").iterdir())
