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
    COMPLETE,
    EXPIRY_ATTRIBUTE,
    GROUP_PREFIX,
    GROUP_SORT_KEY,
    IN_PROGRESS,
    NOTE_PREFIX,
    NOTE_SORT_KEY,
    PARTITION_KEY,
    SORT_KEY,
    BaseLedger,
    FailureNote,
    GroupRecord,
    LedgerRecord,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
# Absent, expired (TTL deletes lazily), or a plain lease (or the previous version's claim) lapsed; never ASSIGNED,
# never a record in a group: its group's state decides (BaseLedger._settle), from the record the refusal returns.
_CLAIMABLE = (
    "attribute_not_exists(#pk) OR #exp <= :now OR (#status = :in_progress AND #lease <= :now AND attribute_not_exists(#group))"
)
_TRANSACTION_LIMIT = TRANSACT_LIMIT
_CLAIM_NAMES = {"#pk": PARTITION_KEY, "#exp": EXPIRY_ATTRIBUTE, "#status": "status", "#lease": "lease_until", "#group": "group"}
_OWNED = "#status IN (:in_progress, :grouped) AND #token = :token"
# A claimed file record of a group is stored GROUPED, read back as IN_PROGRESS. Its own lease lapses while its group
# is assigned or complete, and the previous version claims any IN_PROGRESS record whose lease lapsed: after a
# rollback it would build a delivered file into a second bundle. GROUPED it reads as busy (until the record expires).
_GROUPED = "GROUPED"
_IN_A_TRANSACTION = "TransactionConflictException"  # a single write met an item a transaction is writing
_BATCH_GET_LIMIT = 100  # BatchGetItem takes at most 100 keys
_BATCH_GET_ATTEMPTS = 8


def _key(identity: ObjectIdentity) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": identity.object_name}, SORT_KEY: {"S": identity.revision}}


def _state_of(state: LedgerRecord | GroupRecord) -> dict[str, Any]:
    """The attributes a file record and a group item share (their state and its bundle)."""
    return {
        "status": state.status,
        EXPIRY_ATTRIBUTE: state.expires_at,
        "lease_until": state.lease_until,
        "claim_token": state.claim_token,
        "bundle_key": state.bundle_key,
        "bundle_sha256": state.bundle_sha256,
        "completed_at": state.completed_at,
    }


def _state_from(plain: dict[str, Any]) -> dict[str, Any]:
    """:func:`_state_of` read back, as keyword arguments of either record."""
    return {
        "status": str(plain["status"]),
        "expires_at": int(plain.get(EXPIRY_ATTRIBUTE, 0)),
        "lease_until": int(plain.get("lease_until", 0)),
        "claim_token": plain.get("claim_token"),
        "bundle_key": plain.get("bundle_key"),
        "bundle_sha256": plain.get("bundle_sha256"),
        "completed_at": int(plain["completed_at"]) if "completed_at" in plain else None,
    }


def _serialized(plain: dict[str, Any], key: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in plain.items() if v is not None} | key


def _deserialized(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _to_item(record: LedgerRecord) -> dict[str, Any]:
    identity = {"bucket": record.identity.bucket, "key": record.identity.key, "group": record.group}
    state = _state_of(record)
    if record.group is not None and record.status == IN_PROGRESS:
        state["status"] = _GROUPED
    return _serialized(identity | state, _key(record.identity))


def _from_item(item: dict[str, Any]) -> LedgerRecord:
    plain = _deserialized(item)
    identity = ObjectIdentity(str(plain["bucket"]), str(plain["key"]), str(plain[SORT_KEY]))
    state = _state_from(plain)
    if state["status"] == _GROUPED:
        state["status"] = IN_PROGRESS
    return LedgerRecord(identity=identity, group=plain.get("group"), **state)


def _group_key(group: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": GROUP_PREFIX + group}, SORT_KEY: {"S": GROUP_SORT_KEY}}


def _group_to_item(group: GroupRecord) -> dict[str, Any]:
    return _serialized({"files": group.files} | _state_of(group), _group_key(group.group))


def _group_from_item(item: dict[str, Any]) -> GroupRecord:
    plain = _deserialized(item)
    group = str(plain[PARTITION_KEY])[len(GROUP_PREFIX) :]
    return GroupRecord(group=group, files=int(plain.get("files", 0)), **_state_from(plain))


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
        values = {":in_progress": {"S": IN_PROGRESS}, ":grouped": {"S": _GROUPED}, ":token": {"S": token}}
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
        taken = self._take_lease(_key(identity), "#status = :assigned AND #lease <= :now", token, lease_until, now)
        return _from_item(taken) if taken is not None else None

    def _take_lease(self, key: dict[str, Any], condition: str, token: str, lease_until: int, now: int) -> dict[str, Any] | None:
        """Set an assigned item's token and lease if ``condition`` holds; the item as written, else None."""
        with _ledger("take over"):
            try:
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression="SET #token = :token, #lease = :lease",
                    ConditionExpression=condition,
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
        return dict(response["Attributes"])

    def _replace_if_grouped(self, record: LedgerRecord, group: str) -> bool:
        # A release transaction writing the item right now: not ours, as for a claim (the retry sorts it out).
        return self._conditional(
            "put_item",
            "claim",
            (CONDITION_FAILED, _IN_A_TRANSACTION),
            Item=_to_item(record),
            ConditionExpression="#group = :group",
            ExpressionAttributeNames={"#group": "group"},
            ExpressionAttributeValues={":group": {"S": group}},
        )

    def _regroup_if_owned(self, identity: ObjectIdentity, token: str, old: str, new: str) -> bool:
        return self._conditional(
            "update_item",
            "regroup",
            Key=_key(identity),
            UpdateExpression="SET #group = :new",
            ConditionExpression="#group = :old AND #token = :token",
            ExpressionAttributeNames={"#group": "group", "#token": "claim_token"},
            ExpressionAttributeValues={":new": {"S": new}, ":old": {"S": old}, ":token": {"S": token}},
        )

    def _get_group(self, group: str) -> GroupRecord | None:
        with _ledger("read group"):
            item = self.client.get_item(TableName=self.table_name, Key=_group_key(group), ConsistentRead=True).get("Item")
        return _group_from_item(item) if item else None

    def _get_groups(self, groups: list[str]) -> list[GroupRecord]:
        return [_group_from_item(item) for item in self._batch_get([_group_key(g) for g in dict.fromkeys(groups)])]

    def _put_group_if_absent(self, group: GroupRecord) -> GroupRecord | None:
        # Assign and abandon both write the absent item: exactly one of them wins (BaseLedger's docstring).
        with _ledger("assign" if group.status == ASSIGNED else "abandon"):
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=_group_to_item(group),
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return None
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
                old = response_of(exc).get("Item")
        if old:
            return _group_from_item(old)
        found = self._get_group(group.group)  # endpoints that do not return the old item
        return found or GroupRecord(group.group, IN_PROGRESS, expires_at=0)

    def _take_over_group(self, group: str, token: str, lease_until: int, now: int) -> GroupRecord | None:
        # Lapsed or unlocked, or already ours (another claim batch of this invocation took it a moment ago).
        condition = "#status = :assigned AND (#lease <= :now OR #token = :token)"
        taken = self._take_lease(_group_key(group), condition, token, lease_until, now)
        return _group_from_item(taken) if taken is not None else None

    def _set_group_if_owned(self, group: str, token: str, *, status: str | None = None, lease_until: int | None = None) -> None:
        sets: list[str] = []
        names = {"#state": "status", "#token": "claim_token"}
        values: dict[str, Any] = {":assigned": {"S": ASSIGNED}, ":token": {"S": token}}
        if status is not None:
            sets.append("#state = :status")
            values[":status"] = {"S": status}
        if lease_until is not None:
            sets.append("#lease = :lease")
            names["#lease"] = "lease_until"
            values[":lease"] = {"N": str(lease_until)}
        self._conditional(
            "update_item",
            "unlock" if status is None else "abandon",
            Key=_group_key(group),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="#state = :assigned AND #token = :token",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _complete_group(self, group: str, completed_at: int, expires_at: int) -> None:
        with _ledger("complete"):
            self.client.update_item(
                TableName=self.table_name,
                Key=_group_key(group),
                UpdateExpression="SET #status = :complete, completed_at = :at, #exp = :exp, #lease = :zero",
                ExpressionAttributeNames={"#status": "status", "#exp": EXPIRY_ATTRIBUTE, "#lease": "lease_until"},
                ExpressionAttributeValues={
                    ":complete": {"S": COMPLETE},
                    ":at": {"N": str(completed_at)},
                    ":exp": {"N": str(expires_at)},
                    ":zero": {"N": "0"},
                },
            )

    def _conditional(self, call: str, action: str, refused: tuple[str, ...] = (CONDITION_FAILED,), **params: Any) -> bool:
        """One conditional write (``put_item``, ``update_item``); False when DynamoDB refused it with a ``refused`` code."""
        with _ledger(action):
            try:
                getattr(self.client, call)(TableName=self.table_name, **params)
            except ClientError as exc:
                if error_code(exc) not in refused:
                    raise
                return False
        return True

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
        return [_from_item(item) for item in self._batch_get([_key(i) for i in dict.fromkeys(identities)])]

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            pending: dict[str, Any] = {self.table_name: {"Keys": keys[start : start + _BATCH_GET_LIMIT], "ConsistentRead": True}}
            for attempt in range(_BATCH_GET_ATTEMPTS):
                with _ledger("read"):
                    response = self.client.batch_get_item(RequestItems=pending)
                found += response.get("Responses", {}).get(self.table_name, [])
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
            {":in_progress": {"S": IN_PROGRESS}, ":grouped": {"S": _GROUPED}, ":token": {"S": token}},
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
