"""Cross-references in the Terraform resolve, as `terraform validate` would check them.

There is no terraform binary here, so these tests do what validate does for names, from the
python-hcl2 parse and regexes over the expression strings: every `var.`, `local.`, resource,
data source and `module.M.O` reference resolves in its module; every module call passes only
inputs the module declares and every input it requires; no variable is declared and left
unused; and the provider floor in every versions.tf covers the newest argument or attribute used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from terraform import ENVS, MODULES, blocks, load_file, strings, version_tuple

SHARED = ENVS / "_shared"
ENV_DIRS = [ENVS / "staging", ENVS / "prod"]

VAR = re.compile(r"\bvar\.([A-Za-z_][\w-]*)")
LOCAL = re.compile(r"\blocal\.([A-Za-z_][\w-]*)")
MODULE_OUTPUT = re.compile(r"\bmodule\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.([A-Za-z_][\w-]*)")
MODULE = re.compile(r"\bmodule\.([A-Za-z_][\w-]*)")
DATA = re.compile(r"\bdata\.(aws_\w+)\.([A-Za-z_][\w-]*)")
# A managed resource: aws_TYPE.NAME, not preceded by `data.` (or any other `x.`) and not part of a word.
RESOURCE = re.compile(r"(?<![\w.:/-])(aws_\w+)\.([A-Za-z_][\w-]*)")
RESOURCE_ATTRIBUTE = re.compile(r"(?<![\w.:/-])(aws_\w+)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.([A-Za-z_]\w*)")

# Meta-arguments of a module block: not inputs of the module.
MODULE_META = {"source", "version", "count", "for_each", "providers", "depends_on"}


@dataclass
class Config:
    """One directory of Terraform: a module, or the shared layout of the environments."""

    name: str
    path: Path
    files: dict[str, dict[str, Any]]
    extra_locals: list[set[str]] = field(default_factory=list)  # envs: each env.tf's locals

    def kind(self, kind: str) -> dict[tuple[str, ...], dict[str, Any]]:
        found: dict[tuple[str, ...], dict[str, Any]] = {}
        for parsed in self.files.values():
            found.update(blocks(parsed, kind))
        return found

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        return {k[0]: v for k, v in self.kind("variable").items()}

    @property
    def outputs(self) -> set[str]:
        return {k[0] for k in self.kind("output")}

    @property
    def modules(self) -> dict[str, dict[str, Any]]:
        return {k[0]: v for k, v in self.kind("module").items()}

    @property
    def locals(self) -> set[str]:
        return {k for parsed in self.files.values() for block in parsed.get("locals", []) for k in block}

    def expressions(self, *, include_variables: bool = True) -> list[str]:
        """Every string that can hold an expression (descriptions are prose, left out)."""
        return [s for file, parsed in self.files.items() if include_variables or file != "variables.tf" for s in strings(parsed)]


@cache
def config(path: Path) -> Config:
    files = {p.name: load_file(p) for p in sorted(path.glob("*.tf"))}
    extra = [set(k for b in load_file(env / "env.tf").get("locals", []) for k in b) for env in ENV_DIRS] if path == SHARED else []
    return Config(path.name if path != SHARED else "envs/_shared", path, files, extra)


CONFIGS = [MODULES / m for m in sorted(p.name for p in MODULES.iterdir() if p.is_dir())] + [SHARED]
IDS = [config(p).name for p in CONFIGS]


def module_dir(caller: Config, call: dict[str, Any]) -> Path:
    return (caller.path / call["source"]).resolve()


# --- declarations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_nothing_is_declared_twice(path):
    c = config(path)
    for kind in ("resource", "data", "variable", "output", "module"):
        labels = [label for parsed in c.files.values() for label in blocks_list(parsed, kind)]
        assert len(labels) == len(set(labels)), (
            f"{c.name}: {kind} declared twice: {sorted(x for x in labels if labels.count(x) > 1)}"
        )
    local_names = [k for parsed in c.files.values() for block in parsed.get("locals", []) for k in block]
    assert len(local_names) == len(set(local_names)), f"{c.name}: a local declared twice"


def blocks_list(parsed: dict[str, Any], kind: str) -> list[tuple[str, ...]]:
    found = []
    for block in parsed.get(kind, []):
        for label, body in block.items():
            found += [(label, name) for name in body] if kind in {"resource", "data"} else [(label,)]
    return found


# --- var., local., resources, data sources ------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_every_variable_reference_is_declared(path):
    c = config(path)
    used = {m for s in c.expressions() for m in VAR.findall(s)}
    assert used <= set(c.variables), f"{c.name}: undeclared {sorted(used - set(c.variables))}"


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_every_declared_variable_is_used(path):
    c = config(path)
    used = {m for s in c.expressions(include_variables=False) for m in VAR.findall(s)}
    assert set(c.variables) <= used, f"{c.name}: declared but never used {sorted(set(c.variables) - used)}"


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_every_local_resolves(path):
    c = config(path)
    used = {m for s in c.expressions() for m in LOCAL.findall(s)}
    scopes = [c.locals | extra for extra in c.extra_locals] or [c.locals]
    for declared in scopes:
        assert used <= declared, f"{c.name}: unresolved locals {sorted(used - declared)}"


def test_every_environment_declares_the_same_locals():
    first, *others = config(SHARED).extra_locals
    assert all(other == first for other in others)


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_every_resource_and_data_reference_is_declared_in_the_module(path):
    c = config(path)
    resources, data = set(c.kind("resource")), set(c.kind("data"))
    for expression in c.expressions():
        for ref in RESOURCE.findall(expression):
            assert ref in resources, f"{c.name}: {'.'.join(ref)} is not a resource of this module ({expression[:200]})"
        for ref in DATA.findall(expression):
            assert ref in data, f"{c.name}: data.{'.'.join(ref)} is not declared in this module ({expression[:200]})"


def _top_level_fields(type_expression: str) -> set[str]:
    """The field names of the outer object(...) only: a field whose type is an object of its own keeps its fields to itself."""
    fields, depth = set(), 0
    for token in re.finditer(r"[({\[]|[)}\]]|\b(\w+)\s*=", type_expression):
        text = token.group(0)
        if text in "({[":
            depth += 1
        elif text in ")}]":
            depth -= 1
        elif depth == 3:  # inside ${object({ ... }): "${", "object(" and "{" each open one level
            fields.add(token.group(1))
    return fields


def test_the_environment_settings_fields_are_declared_and_used():
    c = config(SHARED)
    declared = _top_level_fields(c.variables["settings"]["type"])
    used = {m for s in c.expressions(include_variables=False) for m in re.findall(r"\bvar\.settings\.(\w+)", s)}
    assert used == declared, f"unused {sorted(declared - used)}, undeclared {sorted(used - declared)}"


# --- modules: outputs, inputs --------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_every_module_output_reference_resolves(path):
    c = config(path)
    for expression in c.expressions():
        for name in MODULE.findall(expression):
            assert name in c.modules, f"{c.name}: module.{name} is not called here"
        for name, output in MODULE_OUTPUT.findall(expression):
            outputs = config(module_dir(c, c.modules[name])).outputs
            assert output in outputs, f"{c.name}: module.{name}.{output}: {c.modules[name]['source']} has no such output"


CALLERS = [p for p in CONFIGS if config(p).modules]


@pytest.mark.parametrize("path", CALLERS, ids=[config(p).name for p in CALLERS])
def test_module_calls_pass_declared_inputs_and_every_required_one(path):
    c = config(path)
    for name, call in c.modules.items():
        target = config(module_dir(c, call))
        passed = set(call) - MODULE_META
        declared = target.variables
        assert passed <= set(declared), f"{c.name}: module {name} passes undeclared {sorted(passed - set(declared))}"
        required = {v for v, body in declared.items() if "default" not in body}
        assert required <= passed, f"{c.name}: module {name} misses required {sorted(required - passed)}"


# --- the provider floor covers what the code uses ------------------------------------------------

# Arguments, attributes and resource types used here that the AWS provider added after 5.60.0
# (the floor before issue 14), with the version that added each (the provider's CHANGELOG).
# A new entry here is a reason to raise the floor; the test below keeps the two in step.
OLD_FLOOR = "5.60.0"
NEWER_THAN_OLD_FLOOR: dict[tuple[str, str | None], str] = {
    ("aws_lambda_event_source_mapping", "arn"): "5.70.0",  # the controller's policy resource
    ("aws_s3_bucket_lifecycle_configuration", "transition_default_minimum_object_size"): "5.70.0",
}
# Older additions that matter because an older floor was once plausible (kept to show the check).
OLDER: dict[tuple[str, str | None], str] = {
    ("aws_secretsmanager_secret_rotation", "rotate_immediately"): "5.33.0",
    ("aws_ce_cost_allocation_tag", None): "4.20.0",
}
# Releases the range must skip: a known regression in a feature used here, and the release that fixed it
# (the provider's CHANGELOG). The floor is past every one of them (issue 22).
REGRESSION_FIXED_IN: dict[tuple[str, str | None], str] = {
    # 5.70.0 added tags to the event source mapping, and default_tags made its plan inconsistent.
    ("aws_lambda_event_source_mapping", None): "5.87.0",
    # 5.86.0 broke lifecycle rules with `filter { prefix = "" }` (the whole-bucket rules here).
    ("aws_s3_bucket_lifecycle_configuration", None): "5.87.0",
}
NEXT_MAJOR = "6.0.0"


def _versions_files() -> list[Path]:
    return [MODULES / m / "versions.tf" for m in sorted(p.name for p in MODULES.iterdir() if p.is_dir())] + [
        SHARED / "versions.tf"
    ]


def _aws_constraint(path: Path) -> str:
    (terraform,) = load_file(path)["terraform"]
    return terraform["required_providers"][0]["aws"]["version"]


def floor_and_ceiling(constraint: str) -> tuple[str, str]:
    floor = re.fullmatch(r">= (\d+\.\d+\.\d+), < (\d+\.\d+\.\d+)", constraint)
    assert floor, f"expected '>= X.Y.Z, < N.0.0', got {constraint!r}"
    return floor.group(1), floor.group(2)


def _used(rtype: str, attribute: str | None) -> bool:
    for path in CONFIGS:
        c = config(path)
        bodies = [body for (t, _), body in c.kind("resource").items() if t == rtype]
        if attribute is None:
            if bodies:
                return True
            continue
        if any(attribute in body for body in bodies):
            return True
        for expression in c.expressions():
            if any(t == rtype and a == attribute for t, _, a in RESOURCE_ATTRIBUTE.findall(expression)):
                return True
    return False


@pytest.mark.parametrize("path", _versions_files(), ids=lambda p: str(p.relative_to(MODULES.parent)))
def test_every_versions_tf_pins_the_same_floor_and_the_next_major(path):
    floor, ceiling = floor_and_ceiling(_aws_constraint(path))
    reference = floor_and_ceiling(_aws_constraint(SHARED / "versions.tf"))
    assert (floor, ceiling) == reference
    assert ceiling == NEXT_MAJOR and version_tuple(floor) < version_tuple(ceiling)


def test_the_floor_covers_every_newer_attribute_used():
    floor, _ = floor_and_ceiling(_aws_constraint(SHARED / "versions.tf"))
    for (rtype, attribute), introduced in {**NEWER_THAN_OLD_FLOOR, **OLDER}.items():
        if _used(rtype, attribute):
            assert version_tuple(floor) >= version_tuple(introduced), f"{rtype}.{attribute} needs >= {introduced}"


def test_the_newer_attribute_table_is_not_stale():
    # Every entry newer than the old floor is used (else it no longer justifies the floor) ...
    for (rtype, attribute), introduced in NEWER_THAN_OLD_FLOOR.items():
        assert version_tuple(introduced) > version_tuple(OLD_FLOOR)
        assert _used(rtype, attribute), f"{rtype}.{attribute} is in the table but not used"
    # ... and the floor is exactly the newest of them: no higher than the code needs.
    floor, _ = floor_and_ceiling(_aws_constraint(SHARED / "versions.tf"))
    assert floor == max([*NEWER_THAN_OLD_FLOOR.values(), *REGRESSION_FIXED_IN.values()], key=version_tuple)


def test_the_floor_skips_the_releases_with_known_regressions_in_what_is_used():
    floor, _ = floor_and_ceiling(_aws_constraint(SHARED / "versions.tf"))
    for (rtype, attribute), fixed in REGRESSION_FIXED_IN.items():
        assert _used(rtype, attribute), f"{rtype}.{attribute} is in the table but not used"
        assert version_tuple(floor) >= version_tuple(fixed), f"{rtype}.{attribute} is broken before {fixed}"
