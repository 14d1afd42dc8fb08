"""The direction of dependencies, checked by walking every import of the package with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "courier"
# The command group that starts the local stack is its composition root: the one place outside
# courier/local that may import it, and only inside its commands (never at module import).
LOCAL_STACK_ROOT = PACKAGE / "cli" / "local.py"
# The pure core: parsing, bundles, manifest, delivery decisions, ledger policy, the aggregator's policy.
PURE_CORE = [
    "events.py",
    "bundle.py",
    "member_names.py",
    "delivery.py",
    "aggregator.py",
    "controller.py",
    "deploy.py",
    "ports.py",
    "ledger/base.py",
]
IO_LIBRARIES = {"boto3", "botocore", "httpx", "moto"}


def imported_modules(path: Path) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
            found += [(f"{node.module}.{alias.name}", id(node) in top) for alias in node.names]
    return found


def modules_outside_local() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "local" not in p.relative_to(PACKAGE).parts]


def test_nothing_outside_courier_local_imports_the_emulator():
    offenders = []
    for path in modules_outside_local():
        for module, at_top in imported_modules(path):
            if module == "courier.local" or module.startswith("courier.local."):
                if path == LOCAL_STACK_ROOT and not at_top:
                    continue
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offenders == []


def test_the_pure_core_speaks_neither_aws_nor_http():
    offenders = [
        f"{name} imports {module}"
        for name in PURE_CORE
        for module, _ in imported_modules(PACKAGE / name)
        if module.split(".")[0] in IO_LIBRARIES
    ]
    assert offenders == []


# The adapters, and the ledger's DynamoDB backend (an adapter that lives beside its policy, as in Powertools).
ADAPTERS = [PACKAGE / "adapters", PACKAGE / "ledger" / "dynamodb.py"]


def is_adapter(path: Path) -> bool:
    return any(path == a or a in path.parents for a in ADAPTERS)


def test_only_adapters_catch_or_name_botocore_errors():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in modules_outside_local()
        if not is_adapter(path)
        for module, _ in imported_modules(path)
        if module.startswith("botocore.exceptions")
    ]
    assert sorted(set(offenders)) == []


def test_the_rule_checker_sees_a_violation(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from courier.local.stack import LocalStack\n\ndef f():\n    import courier.local.view\n")
    assert imported_modules(sample) == [
        ("courier.local.stack", True),
        ("courier.local.stack.LocalStack", True),
        ("courier.local.view", False),
    ]


def test_every_cli_command_is_thin():
    """The work lives in the domain modules; a command parses options, calls, renders (about 40 lines at most)."""
    long_commands = []
    for path in (PACKAGE / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any("command" in ast.unparse(d) for d in node.decorator_list):
                if node.end_lineno - node.lineno + 1 > 40:
                    long_commands.append(f"{path.name}:{node.name}")
    assert long_commands == []


def test_test_modules_have_unique_names_across_folders():
    """pytest imports test modules by basename (no packages under tests/): two alike stop the whole run at collection."""
    from collections import Counter

    tests = Path(__file__).resolve().parents[1]
    names = Counter(p.name for p in tests.rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []
