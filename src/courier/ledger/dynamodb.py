"""DynamoDB backend of the idempotency ledger: it only stores.

Takes a boto3 DynamoDB *client* as argument; translates botocore errors into
:class:`~courier.errors.LedgerUnavailableError` at this boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from courier.errors import LedgerUnavailableError
from courier.events import ObjectIdentity
from courier.ledger.base import (
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
_BATCH_WRITE_LIMIT = 25
_UNPROCESSED_RETRIES = 8


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


def _unavailable(action: str, exc: Exception) -> LedgerUnavailableError:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
    return LedgerUnavailableError(f"idempotency ledger {action} failed: {code}")


class DynamoDBLedger(BaseLedger):
    def __init__(
        self,
        client: Any,
        table_name: str,
        ttl_seconds: int,
        lease_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, lease_seconds=lease_seconds, clock=clock)
        self.client = client
        self.table_name = table_name

    def _put_if_claimable(self, record: LedgerRecord, now: int) -> LedgerRecord | None:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_to_item(record),
                ConditionExpression=(
                    "attribute_not_exists(#pk) OR #exp <= :now OR (#status = :in_progress AND #lease <= :now)"
                ),
                ExpressionAttributeNames={
                    "#pk": PARTITION_KEY,
                    "#exp": EXPIRY_ATTRIBUTE,
                    "#status": "status",
                    "#lease": "lease_until",
                },
                ExpressionAttributeValues={":now": {"N": str(now)}, ":in_progress": {"S": IN_PROGRESS}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _unavailable("claim", exc) from exc
            old = exc.response.get("Item")
            if old:
                return _from_item(old)
        except BotoCoreError as exc:
            raise _unavailable("claim", exc) from exc
        # Endpoints that do not return the old item: read it (consistently).
        try:
            found = self.client.get_item(TableName=self.table_name, Key=_key(record.identity), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("read", exc) from exc
        item = found.get("Item")
        if item is None:  # deleted between the two calls: treat as busy, the retry will claim it
            return LedgerRecord(record.identity, IN_PROGRESS, expires_at=now + 1, lease_until=now + 1)
        return _from_item(item)

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
        try:
            item = self.client.get_item(TableName=self.table_name, Key=key).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("read note", exc) from exc
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
        for start in range(0, len(items), _BATCH_WRITE_LIMIT):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH_WRITE_LIMIT]]
            pending: dict[str, Any] = {self.table_name: requests}
            for attempt in range(_UNPROCESSED_RETRIES):
                try:
                    response = self.client.batch_write_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise _unavailable(action, exc) from exc
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise LedgerUnavailableError(f"idempotency ledger {action} failed: items left unprocessed")

    def _delete_if_owned(self, identity: ObjectIdentity, token: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_key(identity),
                ConditionExpression="#status = :in_progress AND #token = :token",
                ExpressionAttributeNames={"#status": "status", "#token": "claim_token"},
                ExpressionAttributeValues={":in_progress": {"S": IN_PROGRESS}, ":token": {"S": token}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return
            raise _unavailable("release", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("release", exc) from exc

    def _records_of(self, object_name: str) -> list[LedgerRecord]:
        try:
            paginator = self.client.get_paginator("query")
            pages = paginator.paginate(
                TableName=self.table_name,
                KeyConditionExpression="#pk = :name",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":name": {"S": object_name}},
            )
            return [_from_item(item) for page in pages for item in page.get("Items", [])]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("lookup", exc) from exc
