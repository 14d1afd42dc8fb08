"""How a ``courier`` command ends."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every ``courier`` command, documented here once (the runbooks in docs/runbooks/ rely on them).

    ================  =====  ===========================================================================
    ``OK``            0      done; for ``replay`` also: restores started or still in progress; ``trace``: delivered
    ``ERROR``         1      an error: a bad option, a missing setting, AWS or the receiver unreachable
    ``NOTHING``       2      nothing to do: no bundle matched (``replay``, ``archive verify``), no
                             delivered file in the range (``slo-report``); ``trace``: not delivered yet;
                             ``deploy``: the live version already runs the package
    ``INTEGRITY``     3      a bundle failed its SHA-256 check (``replay``), the audit found problems
                             (``archive verify``)
    ``FAILED``        3      ``trace``: the file failed, a message naming it sits in the DLQ; ``deploy``: the
                             deployment failed or was stopped (rolled back) (the same number as
                             ``INTEGRITY``: each command uses one meaning of 3, told in its ``--help``)
    ``NIFI``          4      NiFi cannot take replays now (unavailable, circuit open): ``replay`` stopped
    ``INCOMPLETE``    5      some bundles were missing or rejected by NiFi (``replay``)
    ``NEVER_LANDED``  6      ``trace``: the key never landed (no revision in the bucket, no ledger record,
                             no bundle, no DLQ message): the uploader's side, not courier's
    ================  =====  ===========================================================================

    Example
    -------
    >>> raise typer.Exit(ExitCode.NOTHING)  # doctest: +SKIP
    """

    OK = 0
    ERROR = 1
    NOTHING = 2  # also ``trace``: the file is not delivered yet
    INTEGRITY = 3
    FAILED = 3  # an alias of INTEGRITY (IntEnum): ``trace``'s "in the DLQ", ``deploy``'s "rolled back"
    NIFI = 4
    INCOMPLETE = 5
    NEVER_LANDED = 6
