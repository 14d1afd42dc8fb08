"""The README documents every setting the code reads."""

from pathlib import Path

from courier.config import ControllerSettings, Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_readme_lists_every_courier_variable():
    missing = [name for name, _, _ in Settings.reference() + ControllerSettings.reference() if f"`{name}`" not in README]
    assert missing == []


def test_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README
