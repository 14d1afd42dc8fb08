"""Each emulated invocation flushes its own EMF document, as separate Lambda environments would."""

from __future__ import annotations

import contextlib
import io
import json
import threading

from courier.observability import invocation_metrics, metric, metrics


def _documents(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_two_concurrent_invocations_flush_two_documents_not_one_merged() -> None:
    both_recorded = threading.Barrier(2)
    out = io.StringIO()

    @metrics.log_metrics(raise_on_empty_metrics=False)
    def handler(event: dict, _context: object) -> None:
        metric("FilesReceived", event["files"])
        both_recorded.wait(5)  # both have recorded before either flushes: the case that merged them

    def invoke(files: int) -> None:
        with invocation_metrics():
            handler({"files": files}, None)

    with contextlib.redirect_stdout(out):
        threads = [threading.Thread(target=invoke, args=(n,)) for n in (13, 11)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

    documents = _documents(out.getvalue())
    assert sorted(d["FilesReceived"] for d in documents) == [[11.0], [13.0]]  # one value each, not [13.0, 11.0] in one
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Courier" for d in documents)
    assert all(d["service"] == "courier" for d in documents)


def test_without_a_scope_the_process_wide_set_serves_as_in_lambda() -> None:
    metrics.clear_metrics()  # other tests call the aggregator without a handler to flush
    out = io.StringIO()

    @metrics.log_metrics(raise_on_empty_metrics=False)
    def handler(_event: dict, _context: object) -> None:
        metric("FilesReceived", 3)
        metric("BundlesDelivered")

    with contextlib.redirect_stdout(out):
        handler({}, None)

    [document] = _documents(out.getvalue())
    assert document["FilesReceived"] == [3.0] and document["BundlesDelivered"] == [1.0]


def test_the_metrics_service_dimension_is_the_deployments_name_from_powertools_service_name() -> None:
    # A fresh interpreter: SERVICE is read once, when the function's code is imported.
    import os
    import subprocess
    import sys

    program = (
        "from courier.observability import SERVICE, metric, metrics\n"
        "@metrics.log_metrics\n"
        "def handler(event, context):\n"
        "    metric('FilesReceived', 3)\n"
        "    metric('FilesFailed', 1, reason='nifi_auth')\n"
        "handler({}, None)\n"
        "print(SERVICE)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_SERVICE_NAME"}
    deployed = subprocess.run(
        [sys.executable, "-c", program], env={**env, "POWERTOOLS_SERVICE_NAME": "courier-prod"}, capture_output=True, text=True
    )
    assert deployed.returncode == 0, deployed.stderr
    *emitted, service = deployed.stdout.strip().splitlines()
    documents = _documents("\n".join(emitted))
    assert service == "courier-prod" and len(documents) == 2
    assert all(d["service"] == "courier-prod" for d in documents)  # both the flushed set and the one with a reason
    assert all("service" in d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] for d in documents)
    local = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
    assert local.stdout.strip().splitlines()[-1] == "courier"
