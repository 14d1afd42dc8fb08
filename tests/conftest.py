from __future__ import annotations

import os

import pytest

# Never talk to real AWS from the tests, whatever the developer's shell has set.
for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="eu-west-2",
    POWERTOOLS_DEV="false",
)
for name in [n for n in os.environ if n.startswith("COURIER_")]:
    del os.environ[name]


@pytest.fixture
def clean_courier_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("COURIER_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def json_logs():
    """The JSON log lines courier writes (as CloudWatch Logs would get them), as one string."""
    import io
    import logging

    from courier.observability import logger

    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    yield stream
    logger.removeHandler(capture)
