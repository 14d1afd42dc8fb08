"""The README documents every setting the code reads."""

from pathlib import Path

from courier.config import ControllerSettings, Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_readme_lists_every_courier_variable():
    missing = [name for name, _, _ in Settings.reference() + ControllerSettings.reference() if f"`{name}`" not in README]
    assert missing == []


def test_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README


def test_every_test_the_docs_name_exists():
    """A guarantee in the README names the test that proves it: a renamed or deleted test must not leave it orphaned."""
    import re

    root = Path(__file__).parents[2]
    texts = [README] + [p.read_text() for p in (root / "docs").rglob("*.md")] + [(root / "nifi" / "README.md").read_text()]
    missing = []
    for text in texts:
        for path, name in re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", text):
            source = root / path
            if not source.exists() or (name and f"def {name}(" not in source.read_text()):
                missing.append(f"{path}::{name}" if name else path)
    assert missing == []
