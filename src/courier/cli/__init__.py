"""The ``courier`` command line (typer + rich): one module per command group, shaped after httpx's ``_main.py``.

Each command parses its options, calls the domain module that does the work
(``courier.operator.replay``, ``dlq``, ``status``, ``slo``) through the adapters, and
renders the outcome. Expected conditions (a port in use, a missing setting, no
running stack) end with one clear line and an :class:`~courier.cli._exit.ExitCode`,
never a traceback.

=================  ============================================================================
``__init__``       ``app``: the commands and groups, in the order ``courier --help`` lists them
``_context``       the local stack if one runs, boto3 clients, settings (never writes os.environ)
``_render``        the consoles, ``fail`` and each command's output
``_exit``          ``ExitCode``, the exit codes of every command
``config``         ``version``, ``config``
``status``         ``status``
``replay``         ``replay``
``backfill``       ``backfill``
``trace``          ``trace``
``slo``            ``slo-report``
``local``          ``local up``, ``local upload``, ``local fault``, ``local receiver`` (the only module that
                   imports ``courier.local``)
``secret``         ``secret stage``, ``secret promote``
``dlq``            ``dlq list``, ``dlq redrive``, ``dlq delete``
``archive``        ``archive verify``
``deploy``         ``deploy`` (blue/green of the aggregator on AWS)
=================  ============================================================================
"""

from __future__ import annotations

import typer

from courier.cli import archive, backfill, config, deploy, dlq, local, replay, secret, slo, status, trace

__all__ = ["app"]

app = typer.Typer(help="courier: S3 landing files, bundled, hashed, archived and delivered to NiFi.", no_args_is_help=True)
app.command()(config.version)
app.command()(config.config)
app.command()(status.status)
app.command()(replay.replay)
app.command("slo-report")(slo.slo_report)
app.command("backfill")(backfill.backfill_command)
app.command("trace")(trace.trace_command)
app.command("deploy")(deploy.deploy_command)
app.add_typer(local.app, name="local")
app.add_typer(dlq.app, name="dlq")
app.add_typer(archive.app, name="archive")
app.add_typer(secret.app, name="secret")
