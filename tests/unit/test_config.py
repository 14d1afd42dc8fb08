from dataclasses import replace

import pytest

from courier.config import Settings
from courier.errors import ConfigError

BASE = {"COURIER_ARCHIVE_BUCKET": "archive", "COURIER_NIFI_URL": "https://nifi.example:8443/contentListener"}


def test_defaults_are_applied():
    settings = Settings.from_env(BASE)
    assert settings.max_bundle_bytes == 64 * 1024 * 1024
    assert settings.idempotency_table == "courier-idempotency"
    assert settings.nifi_allow_http is False


def test_settings_built_without_a_read_timeout_derive_the_one_from_env_derives():
    from_env = Settings.from_env(BASE)
    assert from_env.read_timeout_seconds is not None
    assert replace(from_env, read_timeout_seconds=None).read_timeout() == from_env.read_timeout_seconds


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
        ("COURIER_MEMORY_BUDGET_MB", "a lot"),
        ("COURIER_MEMORY_BUDGET_MB", "8"),
        ("COURIER_SPOOL_DIR", "/does/not/exist"),
        ("COURIER_EPHEMERAL_STORAGE_MB", "100"),
        ("COURIER_STREAM_MB_PER_SECOND", "0"),
        ("COURIER_MAX_OBJECT_BYTES", "-1"),
        ("COURIER_LANDING_BUCKETS", "Landing_Bucket"),
        ("COURIER_LANDING_BUCKETS", "courier-landing,s3://other"),
        ("COURIER_LANDING_BUCKETS", " , "),
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


@pytest.mark.parametrize(("function_mb", "budget_mb"), [("1024", 512), ("512", 256), ("128", 64), ("10240", 5120)])
def test_the_memory_budget_is_half_the_function_memory_lambda_announces(function_mb, budget_mb):
    settings = Settings.from_env({**BASE, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": function_mb})
    assert settings.memory_budget_mb == budget_mb


def test_the_memory_budget_outside_lambda_is_half_of_1024_mb_and_can_be_set():
    assert Settings.from_env(BASE).memory_budget_mb == 512
    assert Settings.from_env({**BASE, "COURIER_MEMORY_BUDGET_MB": "300"}).memory_budget_mb == 300


def test_a_memory_budget_not_below_the_function_memory_is_one_line_naming_it():
    with pytest.raises(ConfigError, match=r"^COURIER_MEMORY_BUDGET_MB must be below the function's memory \(512 MB\), got 600$"):
        Settings.from_env({**BASE, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "COURIER_MEMORY_BUDGET_MB": "600"})


def test_the_ceiling_is_derived_from_the_time_and_the_ephemeral_storage():
    small_disk = Settings.from_env({**BASE, "COURIER_EPHEMERAL_STORAGE_MB": "512"})  # a file and its bundle in 448 MB
    assert small_disk.max_object_bytes == int(448 * 2**20 / 2.02)
    big_disk = Settings.from_env({**BASE, "COURIER_EPHEMERAL_STORAGE_MB": "10240"})  # now the 120 s timeout decides
    work = 120 - 55 - 10  # timeout - POST budget (half of 110 s) - bookkeeping
    assert big_disk.max_object_bytes == int(0.9 * work / 3 * 40 * 2**20)  # moved once, then 2 POST attempts' transfer
    longer = Settings.from_env({**BASE, "COURIER_EPHEMERAL_STORAGE_MB": "10240", "COURIER_FUNCTION_TIMEOUT_SECONDS": "900"})
    assert longer.max_object_bytes == int((10240 - 64) * 2**20 / 2.02)  # the disk again


def test_a_small_function_plans_with_its_share_of_a_vcpu_and_so_a_lower_ceiling():
    disk = {**BASE, "COURIER_EPHEMERAL_STORAGE_MB": "10240"}
    assert Settings.from_env({**disk, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}).stream_mb_per_second == 40
    small = Settings.from_env({**disk, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
    assert small.stream_mb_per_second == pytest.approx(150 * 256 / 1769)
    assert small.max_object_bytes < Settings.from_env({**disk, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}).max_object_bytes
    assert Settings.from_env({**disk, "COURIER_STREAM_MB_PER_SECOND": "5"}).stream_mb_per_second == 5


def test_an_explicit_ceiling_above_what_fits_is_one_line_naming_it():
    small_disk = {**BASE, "COURIER_EPHEMERAL_STORAGE_MB": "512"}
    assert Settings.from_env({**small_disk, "COURIER_MAX_OBJECT_BYTES": "1000000"}).max_object_bytes == 1_000_000
    with pytest.raises(ConfigError, match="^COURIER_MAX_OBJECT_BYTES must be at most 232"):
        Settings.from_env({**small_disk, "COURIER_MAX_OBJECT_BYTES": str(10**12)})


def test_the_disk_for_spools_is_the_spool_directorys_file_system_unless_set(tmp_path):
    import shutil

    settings = Settings.from_env({**BASE, "COURIER_SPOOL_DIR": str(tmp_path)})
    assert settings.ephemeral_storage_mb == shutil.disk_usage(tmp_path).total // 2**20


def test_an_ephemeral_storage_above_the_spool_directorys_disk_is_one_line_naming_it(tmp_path):
    import shutil

    disk_mb = shutil.disk_usage(tmp_path).total // 2**20
    with pytest.raises(ConfigError, match=r"^COURIER_EPHEMERAL_STORAGE_MB must be at most the spool directory's disk") as info:
        Settings.from_env({**BASE, "COURIER_SPOOL_DIR": str(tmp_path), "COURIER_EPHEMERAL_STORAGE_MB": str(disk_mb * 2)})
    assert "\n" not in str(info.value)
    assert Settings.from_env({**BASE, "COURIER_SPOOL_DIR": str(tmp_path), "COURIER_EPHEMERAL_STORAGE_MB": str(disk_mb)})


def test_landing_buckets_naming_the_archive_bucket_are_refused():
    """A notification could then make courier deliver archived bundles again as new files (issue 21, case 5)."""
    with pytest.raises(ConfigError, match="^COURIER_LANDING_BUCKETS must not name COURIER_ARCHIVE_BUCKET") as info:
        Settings.from_env({**BASE, "COURIER_LANDING_BUCKETS": "landing,archive"})
    assert "\n" not in str(info.value)


def test_the_landing_buckets_are_a_list_and_required_when_running_as_the_lambda():
    assert Settings.from_env({**BASE, "COURIER_LANDING_BUCKETS": "a-landing, b.landing"}).landing_buckets == (
        "a-landing",
        "b.landing",
    )
    assert Settings.from_env(BASE).landing_buckets is None  # outside AWS: any bucket an event names
    with pytest.raises(ConfigError, match="^COURIER_LANDING_BUCKETS is required in AWS") as info:
        Settings.from_env({**BASE, "AWS_LAMBDA_FUNCTION_NAME": "courier-prod-aggregator"})
    assert "\n" not in str(info.value)
