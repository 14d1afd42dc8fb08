"""``courier secret``: the Secrets Manager steps of rotating the NiFi secret (docs/runbooks/rotate-nifi-secret.md)."""

from __future__ import annotations

import secrets as random
from pathlib import Path
from typing import Annotated

import typer

from courier.cli._context import Context, Function, Profile, Region, StateDir
from courier.cli._render import console, fail
from courier.delivery import credential_verifier
from courier.errors import CourierError

app = typer.Typer(help="Rotate the NiFi secret: stage the new version as AWSPENDING, then promote it.", no_args_is_help=True)

PemFile = Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="A PEM file.")]


@app.command("stage")
def secret_stage(
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
    generate_password: Annotated[bool, typer.Option("--generate-password", help="A new random password.")] = False,
    password_file: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="The new password.")] = None,
    client_cert: PemFile = None,
    client_key: PemFile = None,
    ca: PemFile = None,
) -> None:
    """Put the current secret with the fields given replaced as the AWSPENDING version (nothing is sent with it yet)."""
    from courier.adapters.secrets import SecretRotation

    if generate_password and password_file:
        raise fail("give --generate-password or --password-file, not both")
    if (client_cert is None) != (client_key is None):
        raise fail("--client-cert and --client-key go together")
    files = {"client_cert_pem": client_cert, "client_key_pem": client_key, "ca_pem": ca, "password": password_file}
    # PEM keeps its final newline; a password file's trailing newline is not part of the password.
    fields: dict[str, str | None] = {k: f.read_text().strip() + ("" if k == "password" else "\n") for k, f in files.items() if f}
    if generate_password:
        fields["password"] = random.token_urlsafe(24)
    if not fields:
        raise fail("nothing to stage: give --generate-password, --password-file, --client-cert/--client-key or --ca")
    context = Context.for_operator(state_dir, function, profile, region)
    try:
        secret_id = context.setting("nifi_secret_id")
        version = SecretRotation(context.clients("secretsmanager"), secret_id).stage(fields)
    except CourierError as exc:
        raise fail(f"could not stage: {exc}") from None
    console.print(f"staged {', '.join(sorted(fields))} of {secret_id} as AWSPENDING (version {version})", highlight=False)


@app.command("promote")
def secret_promote(
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Make the AWSPENDING version AWSCURRENT (the old one becomes AWSPREVIOUS); courier follows within its cache age."""
    from courier.adapters.secrets import SecretRotation

    context = Context.for_operator(state_dir, function, profile, region)
    try:
        secret_id = context.setting("nifi_secret_id")
        previous, current = SecretRotation(context.clients("secretsmanager"), secret_id).promote()
    except CourierError as exc:
        raise fail(f"could not promote: {exc}") from None
    console.print(f"{secret_id}: AWSCURRENT is now version {current} (was {previous})", highlight=False)


@app.command("verifier")
def secret_verifier(
    salt: Annotated[str, typer.Option(help="The flow's courier.credential.salt.")],
    stage: Annotated[str, typer.Option(help="The version to read: AWSPENDING or AWSCURRENT.")] = "AWSPENDING",
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Print the flow's courier.credential.sha256 for the secret's header credential: SHA-256 of salt + Authorization."""
    from courier.adapters.secrets import SecretRotation, parse_credentials

    context = Context.for_operator(state_dir, function, profile, region)
    try:
        data = SecretRotation(context.clients("secretsmanager"), context.setting("nifi_secret_id")).read(stage)
        header = parse_credentials(data).authorization()
    except CourierError as exc:
        raise fail(f"could not read the {stage} version: {exc}") from None
    if header is None:
        raise fail(f"the {stage} version holds no header credential (client certificate only): the verifier stays empty")
    console.print(credential_verifier(salt, header), highlight=False)
