"""What every operator command starts from: the local stack if one runs, boto3 clients, settings.

Nothing here writes to ``os.environ``. Against a local stack, each client is
given the emulator's endpoint and credentials, and the settings are read from
the environment laid over the stack's defaults, so the process environment is
the same after a command as before it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from courier.adapters.aws import session as aws_session
from courier.adapters.function import DeployedFunction
from courier.adapters.sqs import SQSQueue
from courier.cli._render import fail, notice
from courier.config import Settings, read_setting
from courier.errors import ConfigError, CourierError
from courier.operator.replay import parse_when, time_range
from courier.resources import DLQ, FUNCTION_NAME, NAME_PREFIX, QUEUE, with_prefix
from courier.stackfile import FAKE_CREDENTIALS, REGION, STACK_FILE, StackInfo, read_stack_file

StateDir = Annotated[Path, typer.Option("--state-dir", envvar="COURIER_STATE_DIR", help="Where the local stack keeps its state.")]
Function = Annotated[
    str | None,
    typer.Option(
        "--function",
        help="A deployed aggregator (e.g. courier-prod-aggregator): read the settings, queue and mapping from its "
        "configuration (COURIER_FUNCTION).",
    ),
]
# As the aws CLI has them; boto3 reads AWS_PROFILE and AWS_DEFAULT_REGION itself when they are not given.
Profile = Annotated[str | None, typer.Option("--profile", help="The AWS profile to use (as aws --profile).")]
Region = Annotated[str | None, typer.Option("--region", help="The AWS region to use (as aws --region).")]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Go ahead without asking (needed when stdin is not a terminal); the plan is printed.")
]
# NiFi's destination and TLS come from the deployed function, never from the operator's shell (the CA file is the
# exception: the function's path names a file in its package, so the operator brings their own copy of it).
_FUNCTION_ONLY = ("COURIER_NIFI_URL", "COURIER_NIFI_ALLOW_HTTP")


class Clients:
    """Makes the boto3 clients of one command, pointed at the local stack's emulator when one runs.

    Parameters
    ----------
    session
        The boto3 session the clients come from.
    endpoint_url
        The emulator's URL, given to every client; None for AWS (or whatever ``AWS_ENDPOINT_URL`` names).

    Example
    -------
    >>> clients = Clients.for_stack(read_stack_file(Path(".courier")))  # doctest: +SKIP
    >>> clients("sqs").list_queues()  # doctest: +SKIP
    """

    def __init__(self, session: Any, endpoint_url: str | None = None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url

    @classmethod
    def for_stack(cls, stack: StackInfo | None, environ: Mapping[str, str] | None = None) -> Clients:
        """The stack's emulator, unless the environment names an endpoint of its own; else AWS.

        On the stack's emulator the commands sign as its operator (``courier-local``) whatever
        credentials the environment holds: the emulator enforces IAM, and the process that runs
        the stack holds the aggregator's (as a Lambda's environment does).
        """
        import boto3  # here, not at the top: `courier --help` need not load it

        env = os.environ if environ is None else environ
        if stack is not None and env.get("AWS_ENDPOINT_URL", "") in ("", stack.aws_endpoint):
            session = boto3.session.Session(
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=REGION,
            )
            return cls(session, stack.aws_endpoint)
        return cls(boto3.session.Session(region_name=env.get("AWS_DEFAULT_REGION", REGION)))

    def __call__(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)


def aws_target(env: Mapping[str, str]) -> str:
    """Where a command without a local stack goes, as :class:`Clients` will go there."""
    if env.get("AWS_ENDPOINT_URL"):
        return f"using the AWS endpoint {env['AWS_ENDPOINT_URL']}"
    return f"using AWS (region {env.get('AWS_DEFAULT_REGION', REGION)}, profile {env.get('AWS_PROFILE', 'default')})"


def local_defaults(stack: StackInfo | None) -> dict[str, str]:
    """With a local stack running, commands need no COURIER_* settings of their own."""
    if stack is None:
        return {}
    return {
        "COURIER_ARCHIVE_BUCKET": stack.resources["archive_bucket"],
        "COURIER_NIFI_URL": stack.nifi_url,
        "COURIER_NIFI_CA_BUNDLE": stack.ca_bundle,
    }


@dataclass(frozen=True)
class Context:
    """What one operator command runs against.

    Parameters
    ----------
    stack
        The local stack of ``--state-dir``, or None: then the AWS account of the environment.
    clients
        Makes the boto3 clients (see :class:`Clients`).
    environ
        Where the ``COURIER_*`` settings are read: the environment laid over the stack's defaults.

    Example
    -------
    >>> context = Context.load(Path(".courier"))  # doctest: +SKIP
    >>> settings = context.settings()  # doctest: +SKIP
    >>> reader = S3ArchiveReader(context.clients("s3"), settings.archive_bucket)  # doctest: +SKIP
    """

    stack: StackInfo | None
    clients: Clients
    environ: Mapping[str, str]
    deployed: DeployedFunction | None = None

    @classmethod
    def load(cls, state_dir: Path, environ: Mapping[str, str] | None = None, fallback_to_aws: bool = True) -> Context:
        """The stack of ``state_dir``; a dead stack's leftover file ends the command at once.

        Without a stack the command talks to AWS, and says so in one line on stderr (unless
        ``fallback_to_aws`` is False: the command needs a local stack and says so itself).
        """
        env = dict(os.environ if environ is None else environ)
        stack = read_stack_file(state_dir)
        if stack is not None and not stack.is_running():
            # Not a timeout against an endpoint nobody serves: the pid in the file tells at once.
            raise fail(
                f"local stack not running: {state_dir / STACK_FILE} is left over from pid {stack.pid}, which has exited; "
                "start it with `courier local up`, or delete that file to use AWS"
            )
        if stack is None and fallback_to_aws:
            notice(f"no local stack in {state_dir}: {aws_target(env)}")
        return cls(stack, Clients.for_stack(stack, env), {**local_defaults(stack), **env})

    @classmethod
    def for_operator(
        cls,
        state_dir: Path,
        function: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Context:
        """An operator command's context: a function (--function or COURIER_FUNCTION), profile or region names AWS,
        and the local stack is not looked for then; else as :meth:`load`.

        Only the operator commands read COURIER_FUNCTION: one exported for prod must not send
        `courier local upload` there.
        """
        env = dict(os.environ if environ is None else environ)
        try:
            function = function or read_setting(Settings, "function", env)
        except ConfigError as exc:
            raise fail(str(exc)) from None
        if function or profile or region:
            return cls.of_aws(env, function, profile, region)
        return cls.load(state_dir, env)

    @classmethod
    def of_aws(cls, env: dict[str, str], function: str | None, profile: str | None, region: str | None) -> Context:
        """AWS with the caller's own profile; with ``function``, the settings that function runs with.

        The function's COURIER_* variables win over the caller's: they are what the deployed
        stack uses. A denied call ends the command with one line naming the action.
        """
        try:
            clients = Clients(aws_session(profile, region))
            if clients.session.region_name is None:
                raise fail("no AWS region: give --region, or set one in the profile or AWS_DEFAULT_REGION")
            deployed = DeployedFunction.read(clients("lambda"), function) if function else None
        except CourierError as exc:
            raise fail(str(exc)) from None
        where = f"region {clients.session.region_name}, profile {clients.session.profile_name}"
        notice(f"using the deployed function {function} ({where})" if function else f"using AWS ({where})")
        if deployed:
            env = {k: v for k, v in env.items() if k not in _FUNCTION_ONLY}
        return cls(None, clients, {**env, **(deployed.environment if deployed else {})}, deployed)

    def settings(self) -> Settings:
        """Every setting, validated; a missing or invalid one ends the command with its one-line message."""
        try:
            return Settings.from_env(self.environ)
        except ConfigError as exc:
            raise fail(str(exc)) from None

    def setting(self, name: str) -> Any:
        """One setting (raises ``ConfigError``), for commands that must work while others are unset."""
        return read_setting(Settings, name, self.environ)

    def target(self) -> str:
        """Where the command acts, for the plan a destructive command prints before it asks."""
        if self.stack:
            return f"the local stack (AWS emulator {self.stack.aws_endpoint})"
        region = self.clients.session.region_name
        if self.deployed:
            return f"AWS account {self.deployed.account or '?'}, region {region}, function {self.deployed.name}"
        return f"AWS region {region}, profile {self.clients.session.profile_name}"

    def resource(self, role: str) -> str | None:
        """A resource of the local stack by role (``queue_url``, ``breaker_table``, ...); None for AWS."""
        return self.stack.resources.get(role) if self.stack else None

    def aws_name(self, name: str) -> str:
        """A resource's name as an environment's Terraform made it: COURIER_NAME (``courier-<env>``)
        in place of the local stack's ``courier`` prefix; unchanged when COURIER_NAME is unset."""
        try:
            prefix = self.setting("name")
        except ConfigError as exc:
            raise fail(str(exc)) from None
        return with_prefix(name, prefix)

    def metrics_service(self) -> str:
        """The `service` dimension of the environment's metrics: its name (COURIER_NAME, ``courier-<env>``), which
        Terraform gives the functions as POWERTOOLS_SERVICE_NAME; ``courier`` when COURIER_NAME is unset."""
        return self.aws_name(NAME_PREFIX)

    def function_name(self) -> str:
        """The aggregator's name: the one given by --function, else as the Terraform names it."""
        return self.deployed.name if self.deployed else self.aws_name(FUNCTION_NAME)

    def mapping_uuid(self) -> str | None:
        """The aggregator's SQS event source mapping, when known without asking (local stack, --function)."""
        if self.stack:
            return self.stack.mapping_uuid
        return self.deployed.mapping_uuid if self.deployed else None

    def queue_name(self) -> str:
        """The main queue's name: the one the function's mapping polls with --function, else as the Terraform names it."""
        return (self.deployed.queue_name if self.deployed else None) or self.aws_name(QUEUE)

    def queues(self) -> tuple[SQSQueue, SQSQueue]:
        """(main queue, DLQ): the stack's, the one the function's mapping polls, or looked up by name."""
        sqs = self.clients("sqs")
        return (
            SQSQueue.named(sqs, self.queue_name(), self.resource("queue_url")),
            SQSQueue.named(sqs, self.aws_name(DLQ), self.resource("dlq_url")),
        )


TIME_FORMS = "an ISO date (2026-11-25), an ISO time (2026-11-25T10:00Z, 2026-11-25T10:00:00+01:00) or an HTTP date"


def parse_range(
    start: str | None, end: str | None, default_days: int, names: tuple[str, str] = ("--from", "--to")
) -> tuple[datetime, datetime]:
    """``--from``/``--to`` (or the ``names`` a command gives them) as datetimes (see ``courier.operator.replay.time_range``);
    an unparseable or reversed pair ends the command."""
    for option, text in zip(names, (start, end), strict=True):
        try:
            if text:
                parse_when(text)
        except (ValueError, TypeError):
            raise fail(f"{option} {text!r} is not a time: give {TIME_FORMS} (UTC unless it says otherwise)") from None
    since, until = time_range(start, end, default_days)
    if since > until:
        raise fail(f"{names[0]} {since:%Y-%m-%dT%H:%M:%SZ} is after {names[1]} {until:%Y-%m-%dT%H:%M:%SZ}")
    return since, until
