"""``<state-dir>/stack.json``: how the operator commands find a running local stack.

The file is a contract between ``courier local up``, which writes it once the
stack is up and removes it when it stops, and the operator commands
(``courier status``, ``dlq``, ``replay``, ``archive verify``), which then talk
to the stack it names instead of AWS. It lives in the product rather than in
``courier.local`` because those commands must work without the emulator
installed: ``courier.local`` imports this module, never the reverse.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

REGION = "eu-west-2"
STACK_FILE = "stack.json"
ADMIN_TOKEN_FILE = "admin.token"  # the receiver's admin API token, 0600: only the stack's user may drive it
# The emulator's operator (its administrator; courier.local.iam): the emulator enforces IAM and knows
# only its own users' keys, and fixed ones keep a developer's real keys out of its requests.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "courier-local", "AWS_SECRET_ACCESS_KEY": "courier-local"}


def aws_environment(endpoint: str) -> dict[str, str]:
    """What a shell, the aws CLI or boto3 needs to talk to the emulator."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, **FAKE_CREDENTIALS}


@dataclass(frozen=True)
class StackInfo:
    """One running local stack, as its ``stack.json`` describes it.

    Parameters
    ----------
    pid, started_at
        The process that runs the stack, and when it started (epoch seconds).
    aws_endpoint
        URL of the AWS emulator.
    nifi_url, admin_url
        The NiFi receiver's content URL, and the base URL of its ``/admin`` endpoints.
    ca_bundle
        PEM file of the CA that signed the receiver's certificate.
    mapping_uuid
        UUID of the aggregator's event source mapping.
    admin_token_file
        The 0600 file holding the token the receiver's ``/admin`` endpoints require (``Authorization: Bearer``).
    resources
        The provisioned resources by role (``archive_bucket``, ``queue_url``, ``dlq_url``, ``breaker_table``, ...).

    Example
    -------
    >>> info = read_stack_file(Path(".courier"))  # doctest: +SKIP
    >>> info.resources["queue_url"] if info else "no local stack"  # doctest: +SKIP
    """

    pid: int
    started_at: float
    aws_endpoint: str
    nifi_url: str
    admin_url: str
    ca_bundle: str
    mapping_uuid: str
    resources: dict[str, str] = field(default_factory=dict)
    admin_token_file: str = ""

    def is_running(self) -> bool:
        """Whether the process that wrote the file still runs: a stack killed without its cleanup leaves the file behind."""
        return process_alive(self.pid)


def process_alive(pid: int) -> bool:
    """Signal 0 checks that ``pid`` exists without signalling it (0 and negatives would name process groups)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OverflowError:
        return False
    return True


def write_private(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write ``path`` afresh with exactly ``mode``, whatever was there before.

    A file already there keeps its mode when rewritten, and a symlink would be
    followed: the old entry is removed, the new one created with ``O_EXCL``
    (never through a link) and set to ``mode`` past the umask.
    """
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data.encode() if isinstance(data, str) else data)


def write_admin_token(state_dir: Path) -> str:
    """A new random admin token for the receiver of the stack in ``state_dir``, written 0600 to its ``admin.token``."""
    token = secrets.token_urlsafe(32)
    write_private(state_dir / ADMIN_TOKEN_FILE, token + "\n")
    return token


def read_admin_token(path: Path | str) -> str:
    """The token in an ``admin.token`` file (OSError when it cannot be read)."""
    return Path(path).read_text().strip()


def write_stack_file(state_dir: Path, info: StackInfo) -> Path:
    path = state_dir / STACK_FILE
    path.write_text(json.dumps(asdict(info), indent=2))
    return path


def read_stack_file(state_dir: Path) -> StackInfo | None:
    """The stack running with ``state_dir``; None when there is none (or its file is unreadable)."""
    try:
        return StackInfo(**json.loads((state_dir / STACK_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
