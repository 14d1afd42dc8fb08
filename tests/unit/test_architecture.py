"""The direction of dependencies, checked by walking every import of the package with ``ast``."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "courier"
# The command group that starts the local stack is its composition root: the one place outside
# courier/local that may import it, and only inside its commands (never at module import).
LOCAL_STACK_ROOT = PACKAGE / "cli" / "local.py"
# The only modules that may speak AWS or HTTP (import boto3, botocore, httpx or moto); every other
# module under src/courier is pure. The adapters; the ledger's DynamoDB backend (an adapter that lives
# beside its policy, as in Powertools); compose.py, which builds the adapters from Settings; cli/, whose
# _context.py builds the boto3 session the operator commands use; and local/, the emulated stack.
MAY_SPEAK_IO = ["adapters", "ledger/dynamodb.py", "compose.py", "cli", "local"]
# Entry points that wire the object graph without importing an I/O library themselves: the Lambda
# handlers (handler.py builds through compose) and ``python -m courier`` (the CLI).
ENTRY_POINTS = ["handler.py", "__main__.py"]
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


def under(path: Path, allowed: list[str]) -> bool:
    relative = path.relative_to(PACKAGE)
    return any(relative == Path(a) or Path(a) in relative.parents for a in allowed)


def pure_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if not under(p, MAY_SPEAK_IO + ENTRY_POINTS)]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_only_the_allowlisted_modules_speak_aws_or_http():
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in PACKAGE.rglob("*.py")
        if not under(path, MAY_SPEAK_IO)
        for module, _ in imported_modules(path)
        if module.split(".")[0] in IO_LIBRARIES
    ]
    assert offenders == []


def test_the_pure_modules_import_no_module_that_speaks_aws_or_http():
    """Transitively pure: a pure module reaches boto3 or httpx through no courier module either."""
    impure = {module_name(p) for p in PACKAGE.rglob("*.py") if under(p, MAY_SPEAK_IO + ENTRY_POINTS)}
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in pure_modules()
        for module, _ in imported_modules(path)
        if module in impure
    ]
    assert offenders == []


def test_the_allowlist_leaves_the_core_pure():
    """The rule is not vacuous: the aggregator, the controller and the operator tools are checked by it."""
    names = {str(p.relative_to(PACKAGE)) for p in pure_modules()}
    assert {"aggregator.py", "controller.py", "ports.py", "ledger/base.py", "operator/backfill.py", "operator/deploy.py"} <= names


def test_neither_the_pipeline_nor_the_adapters_import_the_operator_tools():
    """The Lambda functions' code runs without courier/operator; the tools use adapters through the ports, and a value
    type an adapter returns or takes (``Revision``, ``Target``) lives in ports.py."""
    pipeline = ["aggregator.py", "controller.py", "compose.py", "handler.py", "ledger", "adapters"]
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in PACKAGE.rglob("*.py")
        if under(path, pipeline)
        for module, _ in imported_modules(path)
        if module == "courier.operator" or module.startswith("courier.operator.")
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


def courier_dependencies(path: Path, package: Path, modules: set[str]) -> set[str]:
    """The courier modules ``path`` imports, lazily or not; ``from package import submodule`` names the submodule."""

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {known(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else known(node.module))
    return found - {"", module_name(path, package)}


def import_cycle(package: Path) -> list[str] | None:
    paths = {module_name(p, package): p for p in package.rglob("*.py")}
    graph = {name: courier_dependencies(path, package, set(paths)) for name, path in paths.items()}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_no_import_cycle_among_courier_modules():
    """A cycle, even through a lazy import, means two modules that cannot be understood (or moved) apart."""
    assert import_cycle(PACKAGE) is None


def test_the_cycle_check_sees_a_cycle_through_a_lazy_import(tmp_path):
    package = tmp_path / "courier"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "compose.py").write_text("from courier.controller import Controller\n")
    (package / "controller.py").write_text("def handler():\n    from courier.compose import build\n")
    assert sorted(set(import_cycle(package) or [])) == ["courier.compose", "courier.controller"]


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
