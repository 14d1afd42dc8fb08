"""What S3's answer to a landing GET is charged to: the object (its uploader's choice) or S3; and the archive's always S3."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from courier.adapters.s3 import S3Archive, S3Landing
from courier.bundle import Body, Bundle
from courier.errors import ArchiveUnavailableError, ObjectMissingError, ObjectUnreadableError, StorageUnavailableError
from courier.events import ObjectRef


class Refusing:
    """An S3 client every call of which S3 answers with ``code``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, name)

        return call


REF = ObjectRef("courier-landing", "in/a.csv", "v1", None, None, 3, datetime(2026, 12, 6, tzinfo=UTC), "ObjectCreated:Put")


@pytest.mark.parametrize(
    "code", ["InvalidObjectState", "InvalidRequest", "AccessDenied", "NoSuchBucket", "KMS.DisabledException"]
)
def test_a_get_refused_for_the_objects_own_reason_is_unreadable_with_s3s_code(code):
    with pytest.raises(ObjectUnreadableError, match=f"S3 {code}") as info:
        S3Landing(Refusing(code), max_object_bytes=1 << 30).open(REF)
    assert not info.value.dependency and info.value.charged_to_file  # never evidence of an outage


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "ServiceUnavailable", "KMS.ThrottlingException"])
def test_a_get_s3_failed_for_its_own_reason_stays_retryable_storage_unavailable(code):
    with pytest.raises(StorageUnavailableError) as info:
        S3Landing(Refusing(code), max_object_bytes=1 << 30).open(REF)
    assert not isinstance(info.value, ArchiveUnavailableError | ObjectUnreadableError)
    assert info.value.outage_evidence == 2  # one object's GET alone is not an outage


def test_a_revision_gone_is_still_missing():
    with pytest.raises(ObjectMissingError):
        S3Landing(Refusing("NoSuchVersion"), max_object_bytes=1 << 30).open(REF)


@pytest.mark.parametrize("code", ["NoSuchBucket", "AccessDenied", "SlowDown"])
def test_any_archive_put_failure_is_one_piece_of_evidence_enough_for_an_s3_outage(code):
    bundle = Bundle("id", datetime(2026, 12, 6, tzinfo=UTC), Body.of(b"x"), "00" * 32, {}, (), 1)
    with pytest.raises(ArchiveUnavailableError) as info:
        S3Archive(Refusing(code), "courier-archive").put("bundles/x.tar.gz", bundle)
    assert info.value.reason == "storage_unavailable" and info.value.dependency == "s3" and info.value.outage_evidence == 1
