"""The AWS Lambda entry points: the aggregator's ``courier.handler.lambda_handler``
and the breaker controller's ``courier.handler.controller_handler``.

Thin on purpose: settings are read and the object graph built (``compose``) on
the first invocation, the cold start, and reused while the execution
environment is warm; importing this module creates no AWS client. Both live
here, beside the composition they call, so no domain module imports ``compose``.
``AWS_ENDPOINT_URL`` (the standard SDK variable) points boto3 at an emulator
for local runs.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

from courier.compose import Runtime, SweepParts, build_controller, build_runtime, build_sweep
from courier.config import ControllerSettings, Settings
from courier.controller import Controller
from courier.dead_letter import settle
from courier.observability import logger, metrics
from courier.sweep import SWEEP_EVENT

# A batch of test events or fast failures has no per-file metrics; that is normal, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

_runtime: Runtime | None = None
_controller: Controller | None = None
_sweep: SweepParts | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        settings = Settings.from_env()
        logger.setLevel(settings.log_level)
        _runtime = build_runtime(settings)
    return _runtime


def reset() -> None:
    """Forget the warm runtime and controller (tests, and the local stack after a settings change)."""
    global _runtime, _controller, _sweep
    if _runtime is not None:
        _runtime.nifi.close()
    _runtime = None
    _controller = None
    _sweep = None


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    warm = runtime()
    result = warm.aggregator.process(records, remaining_ms=remaining)
    returned = len(result.returned)
    response = settle(records, result, warm.dead_letters)  # what can never succeed goes to the DLQ at once
    logger.info(
        "batch processed",
        extra={
            "messages": len(records),
            "failed_messages": returned,  # deferred ones too: all back to the queue
            "dead_lettered": returned - len(result.returned),
            "files_delivered": len(result.delivered),
            "files_skipped": len(result.skipped),
            "bundles": len(result.bundles),
        },
    )
    return response


@metrics.log_metrics(raise_on_empty_metrics=False)
def controller_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point of the breaker controller function: every minute, and hourly with ``SWEEP_EVENT`` the sweep."""
    global _controller
    if event == SWEEP_EVENT:
        return sweep_handler(context)
    if _controller is None:
        _controller = build_controller(ControllerSettings.from_env(), Settings.from_env())
    decision = _controller.run_once()
    return {
        "breaker_state": decision.breaker_state,
        "mapping_enabled": decision.enabled_after,
        "changed": decision.changed,
        "released": decision.released,
        "probed": decision.probed,
        "dependency": decision.dependency,
    }


def sweep_handler(context: Any) -> dict[str, Any]:
    """The sweep of delivered landing revisions (``courier.sweep``), bounded by the invocation's time left."""
    global _sweep
    if _sweep is None:
        _sweep = build_sweep(Settings.from_env())
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    result = _sweep.sweep(remaining).run(datetime.now(UTC))
    return {
        "partitions": result.partitions,
        "versions_swept": result.versions_swept,
        "bundles_kept": result.bundles_kept,
        "failures": result.failures,
        "stopped_early": result.stopped_early,
    }
