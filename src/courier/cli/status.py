"""``courier status``: the figures an operator looks at first."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from courier.adapters.cloudwatch import CloudWatchMetrics
from courier.adapters.mapping import LambdaEventSourceMapping
from courier.adapters.receiver import HTTPSReceiverAdmin
from courier.adapters.s3 import S3ArchiveReader
from courier.cli import _render
from courier.cli._context import Context, Function, Profile, Region, StateDir
from courier.cli._render import fail
from courier.errors import CourierError
from courier.operator.status import LocalSources, StatusSources, gather
from courier.resources import ARCHIVE_BUCKET, BREAKER_TABLE


def status(
    state_dir: StateDir = Path(".courier"),
    function: Function = None,
    profile: Profile = None,
    region: Region = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of a table.")] = False,
) -> None:
    """Queue and DLQ depth, mapping and breaker state, bundles, deliveries and latency (and, in AWS, the landing
    versions the sweep deleted in the last 2 hours).

    Talks to the running local stack of --state-dir when there is one, else to
    the AWS account of the environment (AWS_ENDPOINT_URL for an emulator); with
    --function, to that deployed aggregator's stack, with its own settings.
    """
    context = Context.for_operator(state_dir, function, profile, region)
    try:
        snapshot = gather(sources(context))
    except CourierError as exc:
        raise fail(f"could not read the pipeline's state: {exc}") from None
    _render.status(snapshot, as_json)


def sources(context: Context) -> StatusSources:
    """A local stack's own records, or AWS's CloudWatch metrics, besides what both have."""
    from courier.adapters.breaker import DynamoDBBreakerTable  # Powertools and boto3: loaded when a command runs, not for --help

    queue, dlq = context.queues()
    lambda_client = context.clients("lambda")
    uuid = context.mapping_uuid()
    if uuid:
        mapping: LambdaEventSourceMapping | None = LambdaEventSourceMapping(lambda_client, uuid)
    else:
        mapping = LambdaEventSourceMapping.of_function(lambda_client, context.function_name(), queue.arn)
    breaker_table = context.resource("breaker_table") or context.aws_name(BREAKER_TABLE)
    common = StatusSources(
        queue=queue,
        dlq=dlq,
        breaker_table=DynamoDBBreakerTable(context.clients("dynamodb"), breaker_table),
        mapping=mapping,
        mapping_uuid=mapping.uuid if mapping else None,
    )
    if context.stack is None:
        metrics = CloudWatchMetrics(context.clients("cloudwatch"))
        return replace(common, metrics=metrics, queue_name=context.queue_name(), service=context.metrics_service())
    archive_reader = S3ArchiveReader(context.clients("s3"), context.resource("archive_bucket") or ARCHIVE_BUCKET)
    receiver_admin = HTTPSReceiverAdmin.of(context.stack)
    return replace(common, local=LocalSources(archive_reader, receiver_admin))
