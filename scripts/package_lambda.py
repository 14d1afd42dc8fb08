"""Build the Lambda deployment zip: courier plus its runtime dependencies, for arm64.

Dependencies are pyproject.toml's minus what the Lambda runtime provides
(boto3, botocore) and what only the CLI needs (typer, rich), at the versions and
hashes of requirements/lambda.txt (``make lock`` compiles it from
``--requirements``, constrained to the versions the tests run with). pip
installs them as wheels for the target platform (no compiler) and refuses any
file whose hash the lock does not list. The zip is reproducible: sorted
entries, fixed timestamps and permissions, no caches or tests.

    python scripts/package_lambda.py --out dist/courier-lambda.zip
    python scripts/package_lambda.py --requirements   # what requirements/lambda.txt is compiled from
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lambda.txt"
PROVIDED_OR_CLI_ONLY = {"boto3", "botocore", "typer", "rich"}
EXCLUDED_PARTS = {"__pycache__", "tests", "test", "bin"}
EPOCH = (1980, 1, 1, 0, 0, 0)


def runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    keep = []
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()
        if name not in PROVIDED_OR_CLI_ONLY:
            keep.append(requirement)
    return keep


def install(target: Path, python_version: str, platform: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--disable-pip-version-check",
            "--target",
            str(target),
            "--platform",
            platform,
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            "--require-hashes",
            "--requirement",
            str(LOCK),
        ],
        check=True,
    )
    # The operator CLI and the local stack (its fake NiFi, the emulator) never run in Lambda: keep them out.
    shutil.copytree(
        ROOT / "src" / "courier", target / "courier", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "cli", "local")
    )


def included(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not (EXCLUDED_PARTS & set(parts)) and path.suffix not in {".pyc", ".pyo"}


def write_zip(source: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.rglob("*") if p.is_file() and included(p, source))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "courier-lambda.zip")
    parser.add_argument("--python-version", default="3.12", help="Lambda runtime's Python (default 3.12)")
    parser.add_argument("--platform", default="manylinux2014_aarch64", help="wheel platform (default arm64)")
    parser.add_argument("--requirements", action="store_true", help="print the runtime requirements the lock is compiled from")
    args = parser.parse_args()
    if args.requirements:
        print("\n".join(runtime_requirements()))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        install(Path(tmp), args.python_version, args.platform)
        write_zip(Path(tmp), args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
