"""The commands of docs/runbooks/*.md, as the runbooks mark them, and the output they show.

A fenced block in a runbook is one of:

* `` ```sh runnable `` / `` ```console runnable ``: run on the local stack by tests/e2e/test_runbooks.py,
  in document order, all blocks of a runbook in one bash session (so a variable set in one block is
  there in the next). In ``sh`` every line (with its ``\\`` continuations) is one command and must
  exit 0; in ``console`` each ``$ `` line
  (continued with ``\\``) is one command, and the lines after it are what it printed.
  ``exit=N`` after ``runnable`` expects that exit status instead of 0 (console blocks).
  ``setup`` after ``runnable`` runs the block before all others: a drill section at the end of a
  runbook puts the stack into the runbook's situation.
* `` ```sh not-local: REASON ``: a step that only makes sense in AWS; REASON says why.
* any other language (``text``, ``json``, ``hcl``...): not a command.

Commands see ``courier`` (the code under test), ``aws``, ``COURIER_STATE_DIR``/``STATE`` (the stack's
state dir), ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT`` and the emulator's region and credentials (as
``courier local up`` prints them), ``NIFI_ADMIN`` (the receiver's admin URL) and ``CA`` (its CA file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks"
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(\s*)```(\S*)(.*)$")  # indented too: a block may sit in a numbered step
BOX = set("┏┓┗┛┃━┡┩╇┳┻│─└┘┌┐├┤┬┴┼╭╮╰╯")


@dataclass
class Command:
    """One unit the runner runs: a whole ``sh`` block, or one ``$`` command of a ``console`` block."""

    text: str
    shown: list[str] = field(default_factory=list)
    exit: int = 0


@dataclass
class Block:
    """A fenced block of a runbook: where it is, its language, its marks, and its commands."""

    runbook: str
    line: int
    language: str
    marks: str
    body: list[str]

    @property
    def runnable(self) -> bool:
        return self.marks.split()[:1] == ["runnable"]

    @property
    def setup(self) -> bool:
        return self.runnable and "setup" in self.marks.split()

    @property
    def not_local_reason(self) -> str | None:
        match = re.match(r"not-local:\s*(.*)", self.marks)
        return match[1].strip() if match else None

    @property
    def where(self) -> str:
        return f"{self.runbook}:{self.line}"

    def commands(self) -> list[Command]:
        expected_exit = int(m[1]) if (m := re.search(r"\bexit=(\d+)", self.marks)) else 0
        if self.language != "console":
            return [Command(line, exit=expected_exit) for line in logical_lines(self.body) if not line.startswith("#")]
        commands: list[Command] = []
        continuing = False
        for line in self.body:
            if continuing:
                commands[-1].text += "\n" + line
            elif line.startswith("$ "):
                commands.append(Command(line[2:], exit=expected_exit))
            elif commands:
                commands[-1].shown.append(line)
            continuing = bool(commands) and line.endswith("\\") and not commands[-1].shown
        return commands


def logical_lines(body: list[str]) -> list[str]:
    """The lines of a shell block, each with its ``\\`` continuations, blank ones dropped."""
    joined: list[str] = []
    for line in body:
        if joined and joined[-1].endswith("\\"):
            joined[-1] += "\n" + line
        elif line.strip():
            joined.append(line.strip())
    return joined


def blocks(path: Path) -> list[Block]:
    found, current, indent = [], None, ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if current is None and (match := FENCE.match(line)):
            indent, current = match[1], Block(path.name, number, match[2], match[3].strip(), [])
        elif current is not None and line.strip().startswith("```"):
            found.append(current)
            current = None
        elif current is not None:
            current.body.append(line.removeprefix(indent))
    return found


def runbooks() -> list[Path]:
    return sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")


def in_running_order(path: Path) -> list[Block]:
    runnable = [b for b in blocks(path) if b.runnable]
    return [b for b in runnable if b.setup] + [b for b in runnable if not b.setup]


NORMALISE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"[0-9a-f]{64}"), "<sha256>"),
    (re.compile(r"\d{4}/\d{2}/\d{2}/\d{2}/"), "<hour>/"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z"), "<time>"),
]


def normalise(line: str) -> str:
    for pattern, replacement in NORMALISE:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def key_lines(shown: list[str]) -> list[str]:
    """The shown lines a run must reproduce: plain text, not tables (their widths follow the data) nor JSON."""
    return [line for line in shown if line.strip() and not BOX & set(line) and not line.lstrip().startswith(("{", "}"))]


def mismatches(shown: list[str], printed: str) -> list[str]:
    """What the runbook shows that the run did not print: each key line (``...`` matches anything, ids,
    hashes and times match any), and for a JSON line that parses, every field it names."""
    problems = []
    actual = [normalise(line) for line in printed.splitlines()]
    for line in key_lines(shown):
        pattern = ".*".join(re.escape(part) for part in normalise(line).split("..."))
        if not any(re.fullmatch(pattern, got) for got in actual):
            problems.append(f"shown but not printed: {line.strip()}")
    for line in shown:
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        documents = []
        for got in printed.splitlines():
            try:
                documents.append(json.loads(got))
            except ValueError:
                continue
        if isinstance(fields, dict) and not any(isinstance(doc, dict) and set(fields) <= set(doc) for doc in documents):
            problems.append(f"fields shown but not printed: {sorted(fields)}")
    return problems
