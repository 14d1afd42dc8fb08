"""The docs describe the code as it is: every setting, every test they name, every link they give."""

import re
from pathlib import Path

import pytest

from courier.config import ControllerSettings, Settings

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
# Every markdown file of the repository, outside the virtual environments and build output.
SKIPPED = {".venv", ".venv-checkov", ".venv-lock", "node_modules", "target", "dist", ".courier", ".terraform"}
MARKDOWN = sorted(p for p in ROOT.rglob("*.md") if not SKIPPED & set(p.relative_to(ROOT).parts))
# Where a guarantee may name the test that proves it.
NAMING_TESTS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").rglob("*.md")), ROOT / "nifi" / "README.md"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
# A relative path written as code rather than as a link (`../shared/design.md`) is checked too.
UPWARD_PATH = re.compile(r"`(\.\./[^`\s]+)`")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def test_the_configuration_page_lists_every_courier_variable():
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name, _, _ in Settings.reference() + ControllerSettings.reference() if f"`{name}`" not in page]
    assert missing == []


def test_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README


def test_the_readme_stays_a_first_read():
    """What courier is, the diagram, the two commands, the guarantees and links; the rest lives in ARCHITECTURE.md and docs/."""
    assert len(README.splitlines()) <= 250
    for page in ("ARCHITECTURE.md", "docs/development.md", "docs/configuration.md", "docs/reliability.md"):
        assert f"({page})" in README, f"the README does not link {page}"


def test_every_test_the_docs_name_exists():
    """A guarantee in the docs names the test that proves it: a renamed or deleted test must not leave it orphaned."""
    missing = []
    for doc in NAMING_TESTS:
        for path, name in re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", doc.read_text()):
            source = ROOT / path
            if not source.exists() or (name and f"def {name}(" not in source.read_text()):
                missing.append(f"{doc.relative_to(ROOT)}: {path}::{name}" if name else f"{doc.relative_to(ROOT)}: {path}")
    assert missing == []


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {github_anchor(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def broken_links(path: Path) -> list[str]:
    broken = []
    text = FENCE.sub("", path.read_text())
    for target in LINK.findall(text) + UPWARD_PATH.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto: — outside links are not files
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if ROOT.resolve() not in [resolved, *resolved.parents]:
            broken.append(f"{target} points outside the repository")
        elif not resolved.exists():
            broken.append(f"{target} names no file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} names no heading of {resolved.name}")
    return broken


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_markdown_link_names_a_file_of_the_repository(path):
    assert broken_links(path) == []


def test_the_link_check_sees_a_link_outside_the_repository_and_a_missing_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "a.md").write_text(
        "# Title\n\n[design](../shared/design.md) [ok](#title) [gone](#nothing) [x](b.md) `../../design.md`\n"
    )
    assert broken_links(tmp_path / "a.md") == [
        "../shared/design.md points outside the repository",
        "#nothing names no heading of a.md",
        "b.md names no file",
        "../../design.md points outside the repository",
    ]
