import pytest

from courier.config import Settings
from courier.errors import ConfigError

BASE = {"COURIER_ARCHIVE_BUCKET": "archive", "COURIER_NIFI_URL": "https://nifi.example:8443/contentListener"}


def test_defaults_are_applied():
    settings = Settings.from_env(BASE)
    assert settings.max_bundle_bytes == 64 * 1024 * 1024
    assert settings.idempotency_table == "courier-idempotency"
    assert settings.nifi_allow_http is False


def test_missing_required_variable_names_it():
    with pytest.raises(ConfigError, match="^COURIER_NIFI_URL is required"):
        Settings.from_env({"COURIER_ARCHIVE_BUCKET": "archive"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COURIER_FETCH_CONCURRENCY", "lots"),
        ("COURIER_FETCH_CONCURRENCY", "0"),
        ("COURIER_MAX_BUNDLE_BYTES", "-5"),
        ("COURIER_READ_TIMEOUT_SECONDS", "forever"),
        ("COURIER_NIFI_ALLOW_HTTP", "maybe"),
        ("COURIER_LOG_LEVEL", "LOUD"),
        ("COURIER_NIFI_CA_BUNDLE", "/does/not/exist.pem"),
        ("COURIER_ARCHIVE_PREFIX", "../up"),
    ],
)
def test_invalid_value_gives_one_line_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**BASE, name: value})
    message = str(info.value)
    assert message.startswith(name) and "\n" not in message and repr(value) in message


def test_plain_http_needs_explicit_local_opt_in():
    env = {**BASE, "COURIER_NIFI_URL": "http://127.0.0.1:8080/contentListener"}
    with pytest.raises(ConfigError, match="COURIER_NIFI_ALLOW_HTTP"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "COURIER_NIFI_ALLOW_HTTP": "true"}).nifi_allow_http


def test_settings_are_frozen():
    settings = Settings.from_env(BASE)
    with pytest.raises(AttributeError):
        settings.nifi_url = "https://elsewhere"  # type: ignore[misc]


def test_reference_lists_every_variable():
    names = [row[0] for row in Settings.reference()]
    assert "COURIER_ARCHIVE_BUCKET" in names and all(n.startswith("COURIER_") for n in names)
    assert len(names) == len(set(names)) == len(Settings.__dataclass_fields__)


def test_one_setting_is_read_without_the_required_others():
    from courier.config import read_setting

    assert read_setting(Settings, "idempotency_table", {}) == "courier-idempotency"
    assert read_setting(Settings, "idempotency_table", {"COURIER_IDEMPOTENCY_TABLE": " ledger "}) == "ledger"
    with pytest.raises(ConfigError, match="^COURIER_IDEMPOTENCY_TABLE must not be empty"):
        read_setting(Settings, "idempotency_table", {"COURIER_IDEMPOTENCY_TABLE": " "})
    with pytest.raises(ConfigError, match="^COURIER_ARCHIVE_BUCKET is required"):
        read_setting(Settings, "archive_bucket", {})
