from typer.testing import CliRunner

from courier.cli import app

runner = CliRunner()


def test_config_check_names_the_missing_variable_in_one_line(clean_courier_env):
    result = runner.invoke(app, ["config", "--check"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: COURIER_ARCHIVE_BUCKET is required: S3 bucket that receives the bundles."
    ]


def test_config_check_accepts_a_valid_environment(monkeypatch, clean_courier_env):
    monkeypatch.setenv("COURIER_ARCHIVE_BUCKET", "archive")
    monkeypatch.setenv("COURIER_NIFI_URL", "https://nifi.example:8443/contentListener")
    result = runner.invoke(app, ["config", "--check"])
    assert result.exit_code == 0 and "configuration is valid" in result.output


def test_config_lists_every_variable():
    result = runner.invoke(app, ["config"], terminal_width=200)
    assert result.exit_code == 0 and "COURIER_MAX_BUNDLE_BYTES" in result.output
