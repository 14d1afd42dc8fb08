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


POLICIES = TERRAFORM / "policies"
# The one form a module renders a policy template in: templatefile("<path>", {name = expression, ...}).
TEMPLATEFILE = re.compile(r'^\$\{templatefile\("\$\{path\.module\}/([^"]+)", \{(.*)\}\)\}$', re.S)


def templatefile_call(expression: str) -> tuple[Path, dict[str, str]] | None:
    """The template file and the variables of a `templatefile(...)` expression, or None if it is not one."""
    match = TEMPLATEFILE.match(expression)
    if not match:
        return None
    path, body = match.groups()
    variables = dict(re.findall(r"(\w+) = ([^,]+?)(?:,|$)", body.strip()))
    return path, {name: value.strip() for name, value in variables.items()}


def template_statements(module: str, expression: str) -> list[dict[str, Any]]:
    """A policy template's statements as the module renders them, in the shape of an
    aws_iam_policy_document's (sid, effect, actions, resources, condition), each `${name}` replaced
    by the expression the module passes for it (`${var.queue_arn}`), so the same assertions read both."""
    import json

    relative, passed = templatefile_call(expression)
    text = (MODULES / module / relative).resolve().read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used == set(passed), f"{module}: the template uses {sorted(used)}, the module passes {sorted(passed)}"
    document = json.loads(re.sub(r"\$\{(\w+)\}", lambda m: "${" + passed[m.group(1)] + "}", text))

    def listed(value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]

    found = []
    for statement in listed(document["Statement"]):
        shaped: dict[str, Any] = {"sid": statement.get("Sid"), "effect": statement["Effect"]}
        shaped["actions"] = listed(statement["Action"])
        shaped["resources"] = listed(statement["Resource"])
        shaped["condition"] = [
            {"test": test, "variable": key, "values": listed(values)}
            for test, keys in statement.get("Condition", {}).items()
            for key, values in keys.items()
        ]
        found.append({k: v for k, v in shaped.items() if v not in (None, [])})
    return found
