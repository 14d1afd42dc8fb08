"""The time budget of one invocation, and the relations between timeouts that keep it (pure).

A POST to NiFi can take its connect timeout, then its write timeout for the
body, then its read timeout for the answer; a 401 (secret re-read) or a 422
(resend) doubles that. An invocation must always have time left after its last
POST to record the outcome (ledger, tags, notes, the batch response), or a
timeout kills it with claims held and the batch redelivered whole. So:

* the POST timeouts are derived from the function timeout (:func:`read_timeout_for`)
  so that one bundle's POST budget takes at most half of the time the function
  has besides its bookkeeping, leaving the other half for claims, fetches and
  building;
* before each POST the aggregator checks the time left (:func:`post_needed_seconds`: the
  POST budget, the body's transfer at the stream rate for every attempt, and
  :data:`BOOKKEEPING_SECONDS`) and gives the bundle back when it is short; the
  streaming passes (fetch, build, multipart upload) stop with the same error once
  not even an empty POST and the bookkeeping fit;
* :func:`violated` states the relations between function timeout, claim lease,
  visibility timeout and POST budget, for the settings check and the Terraform tests.

It also sizes what one invocation may take on (docs/large-files.md):

* :func:`memory_budget_mb`: the peak memory an invocation keeps to, half of the
  function's memory (the other half is headroom: the allocator's slack, and a margin
  against out-of-memory kills, which take the whole batch back to the queue); of it,
  :func:`spool_memory_bytes` is what files and bundles may hold in memory, the budget
  less :data:`RUNTIME_RESERVE_MB` for the runtime (Python, boto3, httpx: 75 MB measured
  before the first file) and the buffers outside the spools (fetch chunks, compressor
  blocks, one multipart part: < 50 MB);
* :func:`object_ceiling_bytes`: the largest file one invocation can deliver, by time (the
  work time at :data:`STREAM_MB_PER_SECOND`, for moving it once and for the body's
  transfer of each POST attempt that the check before the POST counts) and by disk (its
  spool and its bundle's spool in the ephemeral storage).
"""

from __future__ import annotations

from courier.resources import DLQ_RETENTION_SECONDS

BOOKKEEPING_SECONDS = 10.0  # after the last POST: complete/release in the ledger, tag, notes, response
POST_ATTEMPTS = 2  # a 401 re-read of the secret or a 422 resend sends the same bundle a second time
VISIBILITY_FACTOR = 6  # AWS's guidance for SQS event sources: visibility >= 6 x function timeout (+ window)
MIN_READ_TIMEOUT_SECONDS = 1.0
MIB = 1024 * 1024
ASSUMED_FUNCTION_MB = 1024  # outside Lambda (local stack, tests), where AWS_LAMBDA_FUNCTION_MEMORY_SIZE is unset
MIN_MEMORY_BUDGET_MB = 32
RUNTIME_RESERVE_MB = 128
MIN_SPOOL_MEMORY_MB = 8
# Raw bytes per second a large file moves end to end (GET, tar.gz, archive, POST): below the 56 MB/s measured
# locally for 2 GiB (bench/large_file.py, docs/performance.md), for Lambda's fractional vCPU and the path to NiFi.
STREAM_MB_PER_SECOND = 40.0
# The handler's own CPU per MB streamed (2 GiB took 12.9 s of its CPU, bench/large_file.py): ~159 MB per CPU-second,
# taken as 150. Lambda gives a function one vCPU at 1769 MB and that share of one below, so a small function
# streams slower than the path to NiFi allows.
STREAM_MB_PER_CPU_SECOND = 150.0
FULL_VCPU_MB = 1769


def stream_mb_per_second(function_mb: int) -> float:
    """The rate to plan with when none is set: the path's rate, or less where the function's CPU share is the limit."""
    return min(STREAM_MB_PER_SECOND, STREAM_MB_PER_CPU_SECOND * min(1.0, function_mb / FULL_VCPU_MB))


CEILING_TIME_MARGIN = 0.9  # of the work time: the estimate is a rate, not a promise
DISK_RESERVE_MB = 64  # of the ephemeral storage, for everything else that writes to /tmp


def post_seconds(connect_timeout: float, read_timeout: float) -> float:
    """Worst case of one POST: connect, write the body (httpx's write timeout = read timeout), read the answer."""
    return connect_timeout + 2 * read_timeout


def post_budget_seconds(connect_timeout: float, read_timeout: float) -> float:
    """Worst case of delivering one bundle: every attempt it may take."""
    return POST_ATTEMPTS * post_seconds(connect_timeout, read_timeout)


def post_needed_seconds(post_budget: float, body_bytes: int, bytes_per_second: float | None) -> float:
    """What delivering a body of ``body_bytes`` may take, bookkeeping included: httpx's write timeout bounds
    each write, not the body, so the transfer at the stream rate is added once per attempt."""
    transfer = POST_ATTEMPTS * body_bytes / bytes_per_second if bytes_per_second else 0.0
    return post_budget + BOOKKEEPING_SECONDS + transfer


def max_post_budget_seconds(function_timeout: float) -> float:
    """Half of what the function has besides bookkeeping: the other half is for claims, fetches and builds."""
    return (function_timeout - BOOKKEEPING_SECONDS) / 2


def read_timeout_for(function_timeout: float, connect_timeout: float) -> float:
    """The largest read (and write) timeout whose POST budget fits :func:`max_post_budget_seconds`."""
    per_attempt = max_post_budget_seconds(function_timeout) / POST_ATTEMPTS
    return max(MIN_READ_TIMEOUT_SECONDS, (per_attempt - connect_timeout) / 2)


def violated(
    function_timeout: float,
    connect_timeout: float,
    read_timeout: float,
    lease_seconds: float | None = None,
    visibility_timeout: float | None = None,
    batching_window: float = 0,
    ledger_ttl_seconds: float | None = None,
) -> list[str]:
    """The relations these values break, each as one sentence; [] when all hold."""
    problems = []
    budget = post_budget_seconds(connect_timeout, read_timeout)
    if budget > max_post_budget_seconds(function_timeout):
        problems.append(
            f"a bundle's POST budget ({budget:g} s: {POST_ATTEMPTS} x (connect {connect_timeout:g} + 2 x read {read_timeout:g}))"
            f" exceeds half of the function timeout ({function_timeout:g} s) less {BOOKKEEPING_SECONDS:g} s of bookkeeping"
        )
    if lease_seconds is not None and lease_seconds <= function_timeout:
        problems.append(f"the claim lease ({lease_seconds:g} s) must outlast the function timeout ({function_timeout:g} s)")
    if visibility_timeout is not None and visibility_timeout < VISIBILITY_FACTOR * function_timeout + batching_window:
        problems.append(
            f"the visibility timeout ({visibility_timeout:g} s) must be at least {VISIBILITY_FACTOR} x the function timeout"
            f" + the batching window ({VISIBILITY_FACTOR * function_timeout + batching_window:g} s)"
        )
    if ledger_ttl_seconds is not None:
        problems.extend(ledger_ttl_violated(ledger_ttl_seconds))
    return problems


def ledger_ttl_violated(ledger_ttl_seconds: float) -> list[str]:
    """The ledger's TTL must outlast every message the queues keep (SQS keeps none longer than the DLQ's retention,
    counted from its first send): otherwise the aggregator would refuse messages no operator redrove."""
    if ledger_window_seconds(ledger_ttl_seconds) >= DLQ_RETENTION_SECONDS:
        return []
    return [
        f"the ledger's TTL ({ledger_ttl_seconds / 86400:g} d) less {LEDGER_MARGIN_SECONDS:g} s must outlast a message"
        f" the queues keep ({DLQ_RETENTION_SECONDS / 86400:g} d): older ones are refused as beyond_ledger"
    ]


# A ledger record is written at or after its revision landed (the event time) and lives COURIER_LEDGER_TTL_DAYS from
# then: the aggregator trusts it for revisions that landed less than the TTL less this margin ago (S3's and Lambda's
# clocks, and an event time a little before the write completed), and refuses older ones (beyond_ledger).
LEDGER_MARGIN_SECONDS = 3600


def ledger_window_seconds(ledger_ttl_seconds: float) -> float:
    """How long after a revision landed the ledger can still say whether it was delivered."""
    return ledger_ttl_seconds - LEDGER_MARGIN_SECONDS


def memory_budget_mb(function_mb: int) -> int:
    """Half the function's memory for files and bundles (see the module docstring), at least 32 MB."""
    return max(MIN_MEMORY_BUDGET_MB, function_mb // 2)


def spool_memory_bytes(memory_budget_mb: int) -> int:
    """What spools may hold in memory: the budget less the runtime's reserve (at least 8 MB: below, spools use disk)."""
    return max(MIN_SPOOL_MEMORY_MB, memory_budget_mb - RUNTIME_RESERVE_MB) * MIB


def work_seconds(function_timeout: float, post_budget: float) -> float:
    """What an invocation has to move bytes in, after one POST budget and the bookkeeping are kept back."""
    return max(0.0, function_timeout - post_budget - BOOKKEEPING_SECONDS)


def object_ceiling_bytes(function_timeout: float, post_budget: float, stream_mb_per_second: float, ephemeral_mb: int) -> int:
    """The largest file one invocation delivers: by time at the stream rate, and by disk.

    In time a file is moved once (GET, tar.gz, archive), and before its POST the time left
    must hold its body's transfer for every attempt (:func:`post_needed_seconds`): a file
    above ``work / (1 + POST_ATTEMPTS)`` at the rate would be given back at every try.
    On disk a file alone needs its own spool and its bundle's (gzip of data that does not
    compress is as large as the data), both in the ephemeral storage less a reserve.
    """
    moved = CEILING_TIME_MARGIN * work_seconds(function_timeout, post_budget) / (1 + POST_ATTEMPTS)
    by_time = moved * stream_mb_per_second * MIB
    by_disk = (ephemeral_mb - DISK_RESERVE_MB) * MIB / 2.02
    return int(min(by_time, by_disk))
