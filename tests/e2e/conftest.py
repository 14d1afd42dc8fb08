"""Fixtures that start the local stack in-process on free loopback ports."""

from __future__ import annotations

import json
import os
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from courier.local.stack import LocalConfig, LocalStack

E2E_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an e2e test (`-m e2e`, `-m "not e2e"`): a module's own pytestmark
    would cover that module only, and one forgotten module would run in the fast loop."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def delivered_files(stack) -> dict[str, list[bytes]]:
    """Each key's contents as the receiver stored them, one entry per bundle that carried it."""
    files: dict[str, list[bytes]] = {}
    for path in stack.fake_nifi.state.received_dir.glob("*.tar.gz"):
        with tarfile.open(path, "r:gz") as tar:
            for entry in json.load(tar.extractfile("manifest.json"))["files"]:
                files.setdefault(entry["key"], []).append(tar.extractfile(entry["member"]).read())
    return files


def admin(state_dir: Path, path: str, payload: dict | None = None) -> dict:
    """What an operator does with curl: the receiver's HTTPS admin API, with the token the stack file names."""
    import ssl
    import urllib.request

    from courier.stackfile import read_admin_token

    info = json.loads((state_dir / "stack.json").read_text())
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Authorization": f"Bearer {read_admin_token(info['admin_token_file'])}"}
    request = urllib.request.Request(info["admin_url"] + path, data=data, headers=headers, method="POST" if data else "GET")
    context = ssl.create_default_context(cafile=info["ca_bundle"])
    with urllib.request.urlopen(request, context=context, timeout=5) as response:  # noqa: S310 - loopback, the stack's CA
        return json.load(response)


def start_stack(state_dir: Path, **overrides) -> LocalStack:
    # Shorter timings than the deployment's (the stack's defaults, courier.resources), so each test runs in seconds:
    # a 1-s window, a 2-s visibility timeout, batches of 100 and a 30-s function. A test that needs the deployment's
    # own settings asks for them (test_large_file_local's 300 MB file).
    quick = {"batch_size": 100, "batching_window_seconds": 1, "visibility_timeout_seconds": 2, "function_timeout_seconds": 30}
    settings = {**quick, **overrides}
    config = LocalConfig(state_dir=state_dir, aws_port=free_port(), nifi_port=free_port(), **settings)
    return LocalStack(config).start()


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Callable[..., LocalStack]]:
    saved = dict(os.environ)
    started: list[LocalStack] = []

    def make(**overrides) -> LocalStack:
        stack = start_stack(tmp_path / f"state{len(started)}", **overrides)
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stack.stop()
    # Every e2e test runs under the emulator's IAM enforcement: a request the stack's own
    # policies refused is a policy that lacks what the code needs (tests that provoke a
    # denial on purpose take theirs with iam.take_denials()).
    from courier.local import iam

    denials = iam.take_denials()
    # moto's backends are process-wide (the in-process server shares them): leave nothing behind.
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    os.environ.clear()
    os.environ.update(saved)
    assert not denials, f"the emulator refused requests under the stack's IAM policies: {denials}"


@pytest.fixture
def local_stack(stack_factory) -> LocalStack:
    return stack_factory()
