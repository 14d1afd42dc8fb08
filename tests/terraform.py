"""Read the Terraform with python-hcl2, normalised for assertions."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM = Path(__file__).parents[1] / "infra" / "terraform"
MODULES = TERRAFORM / "modules"


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            _unquote(k): _clean(v)
            for k, v in value.items()
            if k not in {"__is_block__", "__start_line__", "__end_line__", "__comments__"}
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


@cache
def load(module: str, file: str = "main.tf") -> dict[str, Any]:
    with open(MODULES / module / file, encoding="utf-8") as handle:
        return _clean(hcl2.load(handle))


def resources(module: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for block in load(module).get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                found[(rtype, name)] = body
    return found


def data_sources(module: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for block in load(module).get("data", []):
        for dtype, named in block.items():
            for name, body in named.items():
                found[(dtype, name)] = body
    return found


def variables(module: str) -> dict[str, dict[str, Any]]:
    return {name: body for block in load(module, "variables.tf").get("variable", []) for name, body in block.items()}


def default(module: str, variable: str) -> Any:
    return variables(module)[variable]["default"]


def locals_(module: str) -> dict[str, Any]:
    return {k: v for block in load(module).get("locals", []) for k, v in block.items()}


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    return policy_document.get("statement", []) + [
        s["content"][0] for d in policy_document.get("dynamic", []) for s in d.values()
    ]


def conditions(statement: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [(c["test"], c["variable"], c["values"]) for c in statement.get("condition", [])]


def refs(expression: str) -> set[str]:
    return set(re.findall(r"var\.[a-z_]+", expression))


ENVS = TERRAFORM / "envs"


@cache
def load_file(path: Path) -> dict[str, Any]:
    """Any .tf file (a module's, an environment's), cleaned like load()."""
    with open(path, encoding="utf-8") as handle:
        return _clean(hcl2.load(handle))


def blocks(config: dict[str, Any], kind: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Labelled blocks of one kind: resource/data -> (type, name), variable/output/module -> (name,)."""
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for block in config.get(kind, []):
        for label, body in block.items():
            if kind in {"resource", "data"}:
                for name, inner in body.items():
                    found[(label, name)] = inner
            else:
                found[(label,)] = body
    return found


def strings(value: Any, skip: frozenset[str] = frozenset({"description"})) -> list[str]:
    """Every string in a parsed block, except the values of `skip` keys (prose, not expressions)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in skip for s in strings(v, skip)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v, skip)]
    return [value] if isinstance(value, str) else []


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
