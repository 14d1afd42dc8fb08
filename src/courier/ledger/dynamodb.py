"""DynamoDB backend of the idempotency ledger: it only stores.

Takes a boto3 DynamoDB *client* as argument; translates botocore errors into
:class:`~courier.errors.LedgerUnavailableError` at this boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from courier.adapters.aws import (
    CONDITION_FAILED,
    TRANSACT_LIMIT,
    batch_write,
    error_code,
    response_of,
    transact_write,
    translated,
)
from courier.errors import LedgerUnavailableError
from courier.events import ObjectIdentity
from courier.ledger.base import (
    ASSIGNED,
    EXPIRY_ATTRIBUTE,
    IN_PROGRESS,
    NOTE_PREFIX,
    NOTE_SORT_KEY,
    PARTITION_KEY,
    SORT_KEY,
    BaseLedger,
    FailureNote,
    LedgerRecord,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
# Absent, expired (TTL deletes lazily), or IN_PROGRESS with a lapsed lease; never ASSIGNED.
_CLAIMABLE = "attribute_not_exists(#pk) OR #exp <= :now OR (#status = :in_progress AND #lease <= :now)"
_TRANSACTION_LIMIT = TRANSACT_LIMIT
_CLAIM_NAMES = {"#pk": PARTITION_KEY, "#exp": EXPIRY_ATTRIBUTE, "#status": "status", "#lease": "lease_until"}
_OWNED = "#status = :in_progress AND #token = :token"
_IN_A_TRANSACTION = "TransactionConflictException"  # a single write met an item a transaction is writing
_BATCH_GET_LIMIT = 100  # BatchGetItem takes at most 100 keys
_BATCH_GET_ATTEMPTS = 8


def _key(identity: ObjectIdentity) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": identity.object_name}, SORT_KEY: {"S": identity.revision}}


def _to_item(record: LedgerRecord) -> dict[str, Any]:
    plain = {
        "bucket": record.identity.bucket,
        "key": record.identity.key,
        "status": record.status,
        EXPIRY_ATTRIBUTE: record.expires_at,
        "lease_until": record.lease_until,
        "claim_token": record.claim_token,
        "bundle_key": record.bundle_key,
        "bundle_sha256": record.bundle_sha256,
        "completed_at": record.completed_at,
    }
    item = {k: _serializer.serialize(v) for k, v in plain.items() if v is not None}
    item.update(_key(record.identity))
    return item


def _from_item(item: dict[str, Any]) -> LedgerRecord:
    plain = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return LedgerRecord(
        identity=ObjectIdentity(str(plain["bucket"]), str(plain["key"]), str(plain[SORT_KEY])),
        status=str(plain["status"]),
        expires_at=int(plain.get(EXPIRY_ATTRIBUTE, 0)),
        lease_until=int(plain.get("lease_until", 0)),
        claim_token=plain.get("claim_token"),
        bundle_key=plain.get("bundle_key"),
        bundle_sha256=plain.get("bundle_sha256"),
        completed_at=int(plain["completed_at"]) if "completed_at" in plain else None,
    )


def _busy(identity: ObjectIdentity, now: int) -> LedgerRecord:
    """Stands for an item that changed under a claim (deleted after refusing it, or being written right now):
    the policy reads it as busy, and the retry sorts it out."""
    return LedgerRecord(identity, IN_PROGRESS, expires_at=now + 1, lease_until=now + 1)


def _ledger(action: str) -> AbstractContextManager[None]:
    return translated(f"idempotency ledger {action}", LedgerUnavailableError)


class DynamoDBLedger(BaseLedger):
    def __init__(
        self,
        client: Any,
        table_name: str,
        ttl_seconds: int,
        lease_seconds: int,
        clock: Callable[[], float] = time.time,
        concurrency: int = 32,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, lease_seconds=lease_seconds, clock=clock)
        self.client = client
        self.table_name = table_name
        self.concurrency = concurrency  # claims written side by side (the client's connection pool is as wide)
        self._claim_pool: ThreadPoolExecutor | None = None

    def _put_if_claimable(self, record: LedgerRecord, now: int) -> LedgerRecord | None:
        with _ledger("claim"):
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=_to_item(record),
                    ConditionExpression=_CLAIMABLE,
                    ExpressionAttributeNames=_CLAIM_NAMES,
                    ExpressionAttributeValues={":now": {"N": str(now)}, ":in_progress": {"S": IN_PROGRESS}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return None
            except ClientError as exc:
                if error_code(exc) == _IN_A_TRANSACTION:  # another writer on it right now: busy, the retry sorts it out
                    return _busy(record.identity, now)
                if error_code(exc) != CONDITION_FAILED:
                    raise
                old = response_of(exc).get("Item")
        if old:
            return _from_item(old)
        # Endpoints that do not return the old item: read it (consistently).
        with _ledger("read"):
            found = self.client.get_item(TableName=self.table_name, Key=_key(record.identity), ConsistentRead=True)
        item = found.get("Item")
        if item is None:  # deleted between the two calls: treat as busy, the retry will claim it
            return _busy(record.identity, now)
        return _from_item(item)

    def _put_many_if_claimable(self, records: list[LedgerRecord], now: int) -> dict[ObjectIdentity, LedgerRecord | None]:
        # A conditional PutItem per claim, side by side: 1 write unit each, where a transaction of them cost 2
        # (issue 23). A claim needs no all-or-nothing: each is settled alone (claimed, or the existing item read
        # back from the refusal), as the transaction's refused items already were. The price is calls, not time:
        # the puts go out together on the client's connection pool.
        futures = [self._claimers().submit(self._put_if_claimable, record, now) for record in records]
        existing: dict[ObjectIdentity, LedgerRecord | None] = {}
        failure: LedgerUnavailableError | None = None
        for record, future in zip(records, futures, strict=True):
            try:
                existing[record.identity] = future.result()
            except LedgerUnavailableError as exc:
                failure = failure or exc
        if failure is not None:
            self._give_back([i for i, found in existing.items() if found is None], str(records[0].claim_token))
            raise failure
        return existing

    def _claimers(self) -> ThreadPoolExecutor:
        if self._claim_pool is None:
            self._claim_pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="courier-claim")
        return self._claim_pool

    def _give_back(self, claimed: list[ObjectIdentity], token: str) -> None:
        """Release the claims of the chunks written before a later one failed: the caller fails them all."""
        if not claimed:
            return
        try:
            self._delete_many_if_owned(claimed, token)
        except LedgerUnavailableError:
            pass  # their leases lapse on their own

    def _delete_many_if_owned(self, identities: list[ObjectIdentity], token: str) -> None:
        # Conditional deletes, 100 per transaction: BatchWriteItem takes no conditions, and a release must
        # never delete a claim another invocation took over. The refused ones are exactly those: left alone.
        values = {":in_progress": {"S": IN_PROGRESS}, ":token": {"S": token}}
        for start in range(0, len(identities), _TRANSACTION_LIMIT):
            deletes = [
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": _key(identity),
                        "ConditionExpression": _OWNED,
                        "ExpressionAttributeNames": {"#status": "status", "#token": "claim_token"},
                        "ExpressionAttributeValues": values,
                    }
                }
                for identity in identities[start : start + _TRANSACTION_LIMIT]
            ]
            transact_write(self.client, deletes, "idempotency ledger release", LedgerUnavailableError)

    def _relock_assigned(self, identity: ObjectIdentity, token: str, lease_until: int, now: int) -> LedgerRecord | None:
        with _ledger("take over"):
            try:
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key=_key(identity),
                    UpdateExpression="SET #token = :token, #lease = :lease",
                    ConditionExpression="#status = :assigned AND #lease <= :now",
                    ExpressionAttributeNames={"#token": "claim_token", "#lease": "lease_until", "#status": "status"},
                    ExpressionAttributeValues={
                        ":token": {"S": token},
                        ":lease": {"N": str(lease_until)},
                        ":assigned": {"S": ASSIGNED},
                        ":now": {"N": str(now)},
                    },
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
                return None
        return _from_item(response["Attributes"])

    def _assign_if_owned(
        self, identities: list[ObjectIdentity], token: str, bundle_key: str, bundle_sha256: str
    ) -> list[ObjectIdentity]:
        # One transaction per 100 files (DynamoDB's limit): a chunk is written whole or not at all, and its
        # cancellation reasons name the files that are no longer ours. All or nothing is what this step needs,
        # at 2 write units a file: a crash between single writes would leave some files assigned to the archived
        # bundle and others claimable into a second, different bundle.
        lost: list[ObjectIdentity] = []
        for start in range(0, len(identities), _TRANSACTION_LIMIT):
            pending = identities[start : start + _TRANSACTION_LIMIT]
            while pending:
                failed = self._assign_chunk(pending, token, bundle_key, bundle_sha256)
                if not failed:
                    break
                lost += failed
                pending = [i for i in pending if i not in failed]
        return lost

    def _assign_chunk(self, identities: list[ObjectIdentity], token: str, bundle_key: str, sha256: str) -> list[ObjectIdentity]:
        updates = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _key(identity),
                    "UpdateExpression": "SET #status = :assigned, bundle_key = :key, bundle_sha256 = :sha",
                    "ConditionExpression": "#status = :in_progress AND #token = :token",
                    "ExpressionAttributeNames": {"#status": "status", "#token": "claim_token"},
                    "ExpressionAttributeValues": {
                        ":assigned": {"S": ASSIGNED},
                        ":in_progress": {"S": IN_PROGRESS},
                        ":token": {"S": token},
                        ":key": {"S": bundle_key},
                        ":sha": {"S": sha256},
                    },
                }
            }
            for identity in identities
        ]
        with _ledger("assign"):
            try:
                self.client.transact_write_items(TransactItems=updates)
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                failed = [i for i, r in zip(identities, reasons, strict=False) if r.get("Code") == "ConditionalCheckFailed"]
                if not failed:
                    raise  # cancelled for another reason (a conflict, throttling): the caller retries later
                return failed
        return []

    def _unassign_if_owned(self, identity: ObjectIdentity, token: str, bundle_key: str) -> None:
        self._conditional_delete(
            identity,
            "#status = :assigned AND #token = :token AND bundle_key = :key",
            {":assigned": {"S": ASSIGNED}, ":token": {"S": token}, ":key": {"S": bundle_key}},
            "abandon",
        )

    def _unlock_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        with _ledger("unlock"):
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=_key(identity),
                    UpdateExpression="SET #lease = :zero",
                    ConditionExpression="#status = :assigned AND #token = :token",
                    ExpressionAttributeNames={"#lease": "lease_until", "#status": "status", "#token": "claim_token"},
                    ExpressionAttributeValues={":zero": {"N": "0"}, ":assigned": {"S": ASSIGNED}, ":token": {"S": token}},
                )
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise

    def _get_many(self, identities: list[ObjectIdentity]) -> list[LedgerRecord]:
        found: list[LedgerRecord] = []
        unique = list(dict.fromkeys(identities))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            pending: dict[str, Any] = {
                self.table_name: {"Keys": [_key(i) for i in unique[start : start + _BATCH_GET_LIMIT]], "ConsistentRead": True}
            }
            for attempt in range(_BATCH_GET_ATTEMPTS):
                with _ledger("read"):
                    response = self.client.batch_get_item(RequestItems=pending)
                found += [_from_item(item) for item in response.get("Responses", {}).get(self.table_name, [])]
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise LedgerUnavailableError("idempotency ledger read failed: keys left unprocessed")
        return found

    def _put_many(self, records: list[LedgerRecord]) -> None:
        self._batch_put([_to_item(r) for r in records], "complete")

    def _put_notes(self, notes: list[FailureNote], expires_at: int) -> None:
        items = [
            {
                PARTITION_KEY: {"S": NOTE_PREFIX + n.message_id},
                SORT_KEY: {"S": NOTE_SORT_KEY},
                "reason": {"S": n.reason},
                "detail": {"S": n.detail[:1000]},
                "receive_count": {"N": str(n.receive_count)},
                "objects": {"L": [{"S": o} for o in n.objects]},
                "at": {"N": str(n.at)},
                EXPIRY_ATTRIBUTE: {"N": str(expires_at)},
            }
            for n in notes
        ]
        self._batch_put(items, "note")

    def _get_note(self, message_id: str) -> FailureNote | None:
        key = {PARTITION_KEY: {"S": NOTE_PREFIX + message_id}, SORT_KEY: {"S": NOTE_SORT_KEY}}
        with _ledger("read note"):
            item = self.client.get_item(TableName=self.table_name, Key=key).get("Item")
        if not item:
            return None
        return FailureNote(
            message_id=message_id,
            reason=item["reason"]["S"],
            detail=item.get("detail", {}).get("S", ""),
            receive_count=int(item["receive_count"]["N"]),
            objects=tuple(o["S"] for o in item.get("objects", {}).get("L", [])),
            at=int(item["at"]["N"]),
        )

    def _batch_put(self, items: list[dict[str, Any]], action: str) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        batch_write(self.client, self.table_name, requests, f"idempotency ledger {action}", LedgerUnavailableError)

    def _delete_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        self._conditional_delete(
            identity,
            _OWNED,
            {":in_progress": {"S": IN_PROGRESS}, ":token": {"S": token}},
            "release",
        )

    def _conditional_delete(self, identity: ObjectIdentity, condition: str, values: dict[str, Any], action: str) -> None:
        with _ledger(action):
            try:
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=_key(identity),
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#status": "status", "#token": "claim_token"},
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise

    def _records_of(self, object_name: str) -> list[LedgerRecord]:
        with _ledger("lookup"):
            paginator = self.client.get_paginator("query")
            pages = paginator.paginate(
                TableName=self.table_name,
                KeyConditionExpression="#pk = :name",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":name": {"S": object_name}},
            )
            return [_from_item(item) for page in pages for item in page.get("Items", [])]
