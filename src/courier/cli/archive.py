"""``courier archive``: audit the archive of bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from courier.adapters.s3 import S3ArchiveReader
from courier.cli import _render
from courier.cli._context import Context, Function, Profile, Region, StateDir, parse_range
from courier.cli._exit import ExitCode
from courier.cli._render import fail
from courier.errors import CourierError
from courier.operator.replay import bundles_in_hours, verify_archive

app = typer.Typer(help="Audit the archive of bundles.", no_args_is_help=True)


@app.command("verify")
def archive_verify(
    start: Annotated[str | None, typer.Option("--from", help="First hour to audit (UTC, ISO; default: 24 h ago).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last hour to audit (default: now).")] = None,
    deep: Annotated[
        bool, typer.Option(help="Download, rehash and check every manifest entry (restored or hot bundles).")
    ] = False,
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
) -> None:
    """Audit archived bundles: metadata SHA-256 against S3's checksum; --deep also the bytes and manifests.

    Exit codes: 0 all good, 1 error, 2 no bundle in the range, 3 problems found.
    """
    context = Context.for_operator(state_dir, function, profile, region)
    settings = context.settings()
    since, until = parse_range(start, end, default_days=1)
    archive_reader = S3ArchiveReader(context.clients("s3"), settings.archive_bucket)
    try:
        keys = bundles_in_hours(archive_reader, settings.archive_prefix, since, until)
        if not keys:
            raise fail(f"no bundle archived between {since:%Y-%m-%d %H:00} and {until:%Y-%m-%d %H:00}", ExitCode.NOTHING)
        checked, found = verify_archive(archive_reader, keys, deep)
    except CourierError as exc:
        raise fail(f"could not audit the archive: {exc}") from None
    _render.findings(checked, found, deep)
    raise typer.Exit(ExitCode.INTEGRITY if found else ExitCode.OK)
