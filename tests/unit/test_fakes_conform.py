"""The fakes of tests/fakes.py keep to the ports they stand in for (courier.ports).

mypy (in `make lint`, `make check` and `make test`) checks this module: each assignment below types a fake
as its protocol, so a fake whose methods drift from the port (a renamed argument, a missing method, another
return type) fails the type check. At run time the same pairs are compared by name and parameters, so the
suite fails too when mypy is not run.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from courier import ports
from fakes import (
    FakeArchive,
    FakeBreaker,
    FakeCredentialsSource,
    FakeDeadLetters,
    FakeEventSourceMapping,
    FakeLanding,
    FakeNiFi,
    FakeParkingLot,
)


def typed_as_their_ports() -> list[tuple[object, type[Any]]]:
    landing: ports.Landing = FakeLanding()
    archive: ports.Archive = FakeArchive()
    breaker: ports.Breaker = FakeBreaker()
    parking_lot: ports.ParkingLot = FakeParkingLot()
    dead_letters: ports.DeadLetters = FakeDeadLetters()
    mapping: ports.EventSourceMapping = FakeEventSourceMapping()
    credentials: ports.CredentialsProvider = FakeCredentialsSource()
    nifi: ports.NiFi = FakeNiFi().client()  # the real client, on the fake's transport
    return [
        (landing, ports.Landing),
        (archive, ports.Archive),
        (breaker, ports.Breaker),
        (parking_lot, ports.ParkingLot),
        (dead_letters, ports.DeadLetters),
        (mapping, ports.EventSourceMapping),
        (credentials, ports.CredentialsProvider),
        (nifi, ports.NiFi),
    ]


def _protocol_methods(protocol: type[Any]) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


PAIRS = typed_as_their_ports()


@pytest.mark.parametrize(("fake", "port"), PAIRS, ids=[port.__name__ for _, port in PAIRS])
def test_each_fake_has_every_method_of_its_port_with_the_same_parameters(fake: object, port: type[Any]) -> None:
    for name, expected in _protocol_methods(port).items():
        method = getattr(fake, name, None)
        assert callable(method), f"{type(fake).__name__} lacks {port.__name__}.{name}"
        wanted = [p for p in expected.parameters if p != "self"]
        assert list(inspect.signature(method).parameters) == wanted, f"{type(fake).__name__}.{name}"
