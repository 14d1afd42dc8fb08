"""An invocation can die anywhere (timeout, out of memory): nothing is lost."""

from __future__ import annotations

import time

import pytest


class Crash(BaseException):
    """What a Lambda timeout looks like from inside: nothing after it runs."""


def crash_before(obj, method):
    def boom(*args, **kwargs):
        raise Crash(method)

    setattr(obj, method, boom)


def crash_after(obj, method):
    original = getattr(obj, method)

    def boom(*args, **kwargs):
        original(*args, **kwargs)
        raise Crash(method)

    setattr(obj, method, boom)


def new_environment(runtime):
    """A crash kills the whole execution environment: let its threads finish dying, start afresh."""
    from concurrent.futures import ThreadPoolExecutor

    runtime.aggregator.pool.shutdown(wait=True)
    runtime.aggregator.pool = ThreadPoolExecutor(max_workers=4)


def after_lease(runtime):
    """The retry comes when the message reappears, after the crashed claim's lease lapsed."""
    ledger = runtime.aggregator.ledger
    ledger.clock = lambda: time.time() + ledger.lease_seconds + 1


@pytest.mark.parametrize(
    ("where", "inject"),
    [
        ("after claiming", lambda rt: crash_before(rt.aggregator.landing, "open")),
        ("after archiving", lambda rt: crash_after(rt.aggregator.archive, "put")),
    ],
)
def test_crash_before_delivery_loses_nothing_and_the_retry_delivers_once(runtime, land, fake_nifi, where, inject):
    files = [land(f"{where}/{i}.json", f"{i}".encode()) for i in range(3)]
    messages = [f.message(f"m{i}") for i, f in enumerate(files)]
    healthy = runtime.aggregator.landing.open, runtime.aggregator.archive.put
    inject(runtime)
    with pytest.raises(Crash):
        runtime.aggregator.process(messages)
    new_environment(runtime)
    runtime.aggregator.landing.open, runtime.aggregator.archive.put = healthy
    ledger = runtime.aggregator.ledger
    held = {
        f"m{i}" for i, f in enumerate(files) if any(r.status == "IN_PROGRESS" for r in ledger.lookup("courier-landing", f.key))
    }
    assert held and fake_nifi.state.bundles == []  # the crash claimed files and delivered nothing

    # Before the leases lapse, the claimed files wait (never delivered twice concurrently);
    # a file the crash never got to claim is simply delivered.
    blocked = runtime.aggregator.process(messages)
    assert set(blocked.failed) == held and set(blocked.failed.values()) == {"claim_busy"}
    after_lease(runtime)
    retried = runtime.aggregator.process(messages)
    assert retried.returned == []
    assert {key: n for (_, key, _), n in fake_nifi.state.deliveries.items()} == {f.key: 1 for f in files}


def test_crash_after_the_post_before_the_ledger_update_redelivers_the_same_sha256(runtime, land, fake_nifi):
    files = [land(f"post/{i}.json", f"{i}".encode()) for i in range(3)]
    messages = [f.message(f"m{i}") for i, f in enumerate(files)]
    healthy = runtime.aggregator.ledger.complete
    crash_before(runtime.aggregator.ledger, "complete")
    with pytest.raises(Crash):
        runtime.aggregator.process(messages)
    new_environment(runtime)
    runtime.aggregator.ledger.complete = healthy
    assert len(fake_nifi.state.bundles) == 1  # NiFi got it; the ledger does not know

    after_lease(runtime)
    retried = runtime.aggregator.process(messages)
    assert retried.returned == []
    first, second = fake_nifi.state.bundles
    assert first.sha256 == second.sha256  # the duplicate NiFi's DetectDuplicate drops
    assert fake_nifi.state.stats()["distinct_bundles"] == 1
    assert runtime.aggregator.process(messages).skipped  # and now the ledger knows
