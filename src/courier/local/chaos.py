"""A chaos run on the local stack: steady uploads under a seeded random schedule of faults, then a report.

NiFi answers badly (unavailable, timeout, reset, error, ack-lost, reject-hash
briefly), AWS fails the function's calls (DynamoDB throttling, S3 SlowDown and
InternalError, a Secrets Manager outage), invocations are killed mid-flight
(before and after the POST), and a few poison messages are planted. Then every
fault is cleared and the stack left to heal. The report says what the
guarantees need: every uploaded revision delivered, each file inside exactly one
distinct bundle, nothing in the DLQ but the poison, the breaker opened and
closed by itself.

``make chaos`` runs 15 minutes (``python -m courier.local.chaos``); the e2e test
``tests/e2e/test_chaos.py`` runs a short schedule.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from courier.adapters.breaker import DynamoDBBreakerTable
from courier.errors import LocalStackError
from courier.local.aws_faults import Fault
from courier.local.fake_nifi import FakeNiFi
from courier.local.lambda_runtime import InvocationKilled
from courier.local.provision import Stack
from courier.local.stack import LocalConfig, LocalStack
from courier.operator.status import breaker_state
from courier.ports import BreakerState

NIFI_FAULTS = ("unavailable", "timeout", "reset", "error", "ack-lost", "reject-hash")
AWS_FAULTS = (
    Fault("dynamodb", "ThrottlingException", 0.3),
    Fault("s3", "SlowDown", 0.5),
    Fault("s3", "InternalError", 0.3),
    Fault("secretsmanager", "InternalServiceError", 1.0),
)
KILL_POINTS = ("assign", "complete")  # before the POST (after archiving), after NiFi's 2xx
CHAOS_VISIBILITY_SECONDS = 40
POISON = ("not json at all", '{"Records": [1]}', '{"Records": [{"eventName": "ObjectCreated:Put", "s3": 7}]}')


@dataclass
class ChaosReport:
    """What a chaos run did and what it left behind."""

    uploaded: int = 0
    delivered: int = 0
    lost: int = 0
    files_in_several_bundles: int = 0
    bundles_received: int = 0
    distinct_bundles: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    aws_errors_injected: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    max_receives: int = 0
    dlq_bodies: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)
    breaker_states_seen: set[BreakerState] = field(default_factory=set)
    final_breaker_state: str = ""
    drain_seconds: float | None = None

    @property
    def guarantees_hold(self) -> bool:
        return (
            self.lost == 0
            and self.files_in_several_bundles == 0
            and set(self.dlq_bodies) <= set(self.poison)
            and BreakerState.OPEN in self.breaker_states_seen
            and self.final_breaker_state in (BreakerState.CLOSED, BreakerState.MISSING)
        )

    def lines(self) -> list[str]:
        resends = self.bundles_received - self.distinct_bundles
        faults = ", ".join(f"{kind} x{n}" for kind, n in sorted(self.faults.items()))
        return [
            f"files uploaded {self.uploaded}, delivered {self.delivered}, lost {self.lost}",
            f"bundles received {self.bundles_received}, distinct {self.distinct_bundles}, resends {resends}",
            f"files inside more than one distinct bundle: {self.files_in_several_bundles}",
            f"faults injected: {faults}",
            f"AWS errors answered: {self.aws_errors_injected}; invocations killed: {self.kills}",
            f"max receives of a message: {self.max_receives}",
            f"DLQ: {len(self.dlq_bodies)} messages, all of them poison: {set(self.dlq_bodies) <= set(self.poison)}"
            f" ({len(self.poison)} planted, {len(set(self.dlq_bodies) & set(self.poison))} there yet)",
            f"breaker states seen: {sorted(map(str, self.breaker_states_seen))}; at the end: {self.final_breaker_state}",
            f"drain after the faults cleared: {self.drain_seconds:.1f} s" if self.drain_seconds is not None else "did not drain",
            "guarantees hold" if self.guarantees_hold else "GUARANTEES BROKEN",
        ]


class Chaos:
    """Runs the schedule against a started :class:`LocalStack`.

    Parameters
    ----------
    stack
        The running local stack.
    seed
        Seeds the schedule (which fault, for how long) and the uploads.
    step_seconds
        How long each fault (or calm spell) lasts.

    Example
    -------
    >>> report = Chaos(stack, seed=7).run(duration=60, rate=2)  # doctest: +SKIP
    >>> print("\\n".join(report.lines()))  # doctest: +SKIP
    """

    def __init__(self, stack: LocalStack, seed: int = 1, step_seconds: float = 3.0) -> None:
        self.stack = stack
        self.rng = random.Random(seed)
        self.seed = seed
        self.step_seconds = step_seconds
        self.report = ChaosReport()
        self._watching = threading.Event()

    @property
    def _nifi(self) -> FakeNiFi:
        if self.stack.fake_nifi is None:
            raise LocalStackError("a chaos run needs the local stack's own receiver, started")
        return self.stack.fake_nifi

    @property
    def _resources(self) -> Stack:
        if self.stack.resources is None:
            raise LocalStackError("a chaos run needs a started local stack")
        return self.stack.resources

    def run(self, duration: float, rate: float = 2.0, drain_timeout: float = 240.0, poison_timeout: float = 0.0) -> ChaosReport:
        """Faults for ``duration`` seconds, then up to ``drain_timeout`` to deliver everything and, if
        ``poison_timeout`` > 0, up to that long more for the poison to reach the DLQ (maxReceiveCount receives)."""
        self._plant_poison()
        watcher = threading.Thread(target=self._watch_breaker, name="chaos-breaker-watch", daemon=True)
        watcher.start()
        uploader = self.stack.start_demo(rate, size=2000, seed=self.seed)
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self._one_step()
        uploader.stop()
        self._clear()
        cleared = time.monotonic()
        if self._wait_drained(drain_timeout):
            self.report.drain_seconds = time.monotonic() - cleared
        self._wait_for_poison(poison_timeout)
        self._watching.set()
        watcher.join(5)
        return self._finish()

    # --- the schedule ----------------------------------------------------------------

    def _one_step(self) -> None:
        kind = self.rng.choice(("nifi", "aws", "kill", "calm"))
        if kind == "nifi":
            mode = self.rng.choice(NIFI_FAULTS)
            self.report.faults[f"nifi:{mode}"] += 1
            self._nifi.state.set_mode(mode)
            time.sleep(1.0 if mode == "reject-hash" else self.step_seconds)  # a corrupting path is brief
            self._nifi.state.set_mode("ok")
        elif kind == "aws":
            fault = self.rng.choice(AWS_FAULTS)
            self.report.faults[f"aws:{fault.service}:{fault.error}"] += 1
            self.stack.aws_faults.set(fault)
            time.sleep(self.step_seconds)
            self.stack.aws_faults.clear()
        elif kind == "kill":
            point = self.rng.choice(KILL_POINTS)
            self.report.faults[f"kill:{point}"] += 1
            self._kill_next_invocation_at(point)
            time.sleep(self.step_seconds)
        else:
            time.sleep(self.step_seconds)

    def _kill_next_invocation_at(self, point: str) -> None:
        """The next invocation to reach ``point`` dies there (before the POST: assign; after it: complete)."""
        from courier import handler

        ledger = handler.runtime().aggregator.ledger
        original = getattr(type(ledger), point)
        fired = threading.Event()

        def die_once(*args: Any, **kwargs: Any) -> Any:
            result = original(ledger, *args, **kwargs)
            if not fired.is_set():
                fired.set()
                setattr(ledger, point, original.__get__(ledger))
                raise InvocationKilled(point)
            return result

        setattr(ledger, point, die_once)

    def _plant_poison(self) -> None:
        sqs = self.stack.session.client("sqs")
        for body in POISON:
            sqs.send_message(QueueUrl=self._resources.queue_url, MessageBody=body)
            self.report.poison.append(body)

    def _clear(self) -> None:
        self._nifi.state.set_mode("ok")
        self.stack.aws_faults.clear()
        from courier import handler

        ledger = handler.runtime().aggregator.ledger
        for point in KILL_POINTS:
            ledger.__dict__.pop(point, None)

    # --- watching and the end ----------------------------------------------------------

    def _watch_breaker(self) -> None:
        table = DynamoDBBreakerTable(self.stack.session.client("dynamodb"), self._resources.breaker_table)
        while not self._watching.wait(0.25):
            try:
                self.report.breaker_states_seen |= table.states()
            except Exception:  # noqa: BLE001 - a read during a drill may fail; the next one counts
                continue

    def _wait_drained(self, timeout: float) -> bool:
        """Every uploaded file delivered (the poison may still be on its way to the DLQ)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stack.summary()["lost"] == 0:
                return True
            time.sleep(1.0)
        return False

    def _wait_for_poison(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.stack.depths()[2] < len(self.report.poison):
            time.sleep(2.0)

    def _finish(self) -> ChaosReport:
        report = self.report
        summary = self.stack.summary()
        stats = self._nifi.state.stats()
        report.uploaded, report.delivered, report.lost = summary["uploaded"], summary["delivered"], summary["lost"]
        report.files_in_several_bundles = stats["files_in_several_bundles"]
        report.bundles_received, report.distinct_bundles = stats["bundles_received"], stats["distinct_bundles"]
        report.aws_errors_injected = self.stack.aws_faults.snapshot()["injected"]
        poller = self.stack.poller.stats.snapshot() if self.stack.poller else {}
        report.kills, report.max_receives = poller.get("killed", 0), poller.get("max_receive_count", 0)
        report.dlq_bodies = self._dlq_bodies()
        table = DynamoDBBreakerTable(self.stack.session.client("dynamodb"), self._resources.breaker_table)
        report.final_breaker_state = breaker_state(table)
        return report

    def _dlq_bodies(self) -> list[str]:
        sqs = self.stack.session.client("sqs")
        bodies: dict[str, str] = {}
        for _ in range(10):
            got = sqs.receive_message(QueueUrl=self._resources.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            for message in got.get("Messages", []):
                bodies[message["MessageId"]] = message["Body"]
            if not got.get("Messages"):
                break
        return list(bodies.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A chaos run on the local stack, with a report (make chaos).")
    parser.add_argument("--duration", type=float, default=900.0, help="Seconds of faults (default 15 minutes).")
    parser.add_argument("--rate", type=float, default=3.0, help="Uploads per second.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state-dir", type=Path, default=Path(".courier-chaos"))
    parser.add_argument("--aws-port", type=int, default=4576)
    parser.add_argument("--nifi-port", type=int, default=8453)
    args = parser.parse_args(argv)
    config = LocalConfig(
        state_dir=args.state_dir,
        aws_port=args.aws_port,
        nifi_port=args.nifi_port,
        # Shorter than the deployment's (courier.resources): a chaos run sees many kills and recoveries.
        batch_size=100,
        batching_window_seconds=1,
        function_timeout_seconds=30,
        # Above the claim lease (function timeout 30 s + 5), as AWS's 6 x timeout is: a killed invocation's
        # messages come back only after its claims lapsed, so a kill costs one receive, not several.
        visibility_timeout_seconds=CHAOS_VISIBILITY_SECONDS,
        breaker_recovery_seconds=3,
        controller_period_seconds=1.0,
    )
    stack = LocalStack(config).start()
    try:
        report = Chaos(stack, seed=args.seed).run(args.duration, args.rate, poison_timeout=15 * CHAOS_VISIBILITY_SECONDS)
    finally:
        stack.stop()
    for line in report.lines():
        print(line, file=sys.__stdout__)
    (args.state_dir / "chaos-report.json").write_text(
        json.dumps({"lines": report.lines(), "faults": dict(report.faults), "guarantees_hold": report.guarantees_hold}, indent=2)
    )
    return 0 if report.guarantees_hold else 1


if __name__ == "__main__":  # pragma: no cover - make chaos
    raise SystemExit(main())
