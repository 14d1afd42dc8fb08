"""``courier version`` and ``courier config``."""

from __future__ import annotations

from typing import Annotated

import typer

from courier import __version__
from courier.cli._render import console, fail, settings_table
from courier.config import Settings
from courier.errors import CourierError


def version() -> None:
    """Print courier's version."""
    console.print(__version__)


def config(check: Annotated[bool, typer.Option(help="Validate the COURIER_* variables of this environment.")] = False) -> None:
    """List every COURIER_* setting with its default; --check validates the current environment."""
    if not check:
        console.print(settings_table(Settings.reference()))
        return
    try:
        settings = Settings.from_env()
    except CourierError as exc:
        raise fail(str(exc)) from None
    console.print("[green]configuration is valid[/green]")
    for name, value in vars(settings).items():
        console.print(f"  COURIER_{name.upper()}={value}", highlight=False)
