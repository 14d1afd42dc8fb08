"""Install courier with the newest (or the oldest) versions pyproject.toml's ranges allow, and test it.

The locks (requirements/*.txt) protect `make run` and `make test`, not `pip install courier[local]`, which takes
whatever is newest: a release that breaks courier is seen here first (`make newest`, weekly in
.github/workflows/newest.yml). `make oldest` installs each direct dependency at its floor (uv's
``--resolution lowest-direct``), so a floor that no longer works is seen too.

Each run makes a throwaway venv, prints the versions of the packages courier leans on, runs the unit tests,
and (newest) a smoke test of the local stack as a user runs it: ``courier local up`` on free ports, one upload,
its delivery read from ``courier status --json``, then Ctrl-C and a clean exit.

    python scripts/dependency_check.py newest|oldest [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY_PACKAGES = (
    "boto3",
    "botocore",
    "moto",
    "httpx",
    "cryptography",
    "trustme",
    "typer",
    "rich",
    "aws-lambda-powertools",
    "hypothesis",
    "pytest",
)
SMOKE_TIMEOUT = 120.0


def run(*command: str | Path) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], check=True, cwd=ROOT)


def install(venv: Path, which: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", "uv")
    if which == "newest":
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "--upgrade-strategy", "eager", "-e", ".[dev]")
    else:
        run(venv / "bin" / "uv", "pip", "install", "--quiet", "--python", python, "--resolution", "lowest-direct", "-e", ".[dev]")
    return python


def versions(python: Path) -> dict[str, str]:
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True
    ).stdout
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(listed)}
    return {name: installed.get(name, "(not installed)") for name in KEY_PACKAGES}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def courier_status(python: Path, state: Path) -> dict[str, object] | None:
    done = subprocess.run(
        [str(python), "-m", "courier", "status", "--json", "--state-dir", str(state)], capture_output=True, text=True
    )
    return json.loads(done.stdout) if done.returncode == 0 else None


def smoke(python: Path, state: Path) -> None:
    """`courier local up`, one file uploaded, delivered, Ctrl-C: the stack exits 0 with no traceback."""
    up = subprocess.Popen(
        [str(python), "-m", "courier", "local", "up", "--state-dir", str(state)]
        + ["--aws-port", str(free_port()), "--nifi-port", str(free_port()), "--batching-window", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + SMOKE_TIMEOUT
        while not (state / "stack.json").exists():
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"courier local up did not start:\n{up.communicate()[1]}")
            time.sleep(0.5)
        run(python, "-m", "courier", "local", "upload", "--rate", "1", "--duration", "1", "--state-dir", state)
        status = courier_status(python, state)
        while not (status and int(str(status["files_delivered"])) >= 1):
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the uploaded file was not delivered; last status: {status}")
            time.sleep(1.0)
            status = courier_status(python, state)
        print("delivered:", json.dumps({k: status[k] for k in ("files_delivered", "bundles_archived", "dlq_depth")}))
        up.send_signal(signal.SIGINT)
        out, errors = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    if up.returncode != 0 or "Traceback" in out + errors:
        raise SystemExit(f"courier local up exited {up.returncode}:\n{errors[-3000:]}")
    print("local stack smoke test: passed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("newest", "oldest"))
    parser.add_argument("--keep", action="store_true", help="keep the venv (its path is printed)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix=f"courier-{args.which}-"))
    try:
        python = install(work / "venv", args.which)
        print(json.dumps(versions(python), indent=1))
        run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit")
        if args.which == "newest":
            smoke(python, work / "state")
    finally:
        if args.keep:
            print("venv kept:", work / "venv")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
