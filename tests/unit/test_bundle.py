import gzip
import hashlib
import io
import json
import random
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from courier.bundle import MANIFEST_NAME, FetchedFile, archive_key, build_bundle, plan_bundles
from courier.events import ObjectRef
from courier.member_names import member_name

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
AWKWARD_KEYS = [
    "plain.json",
    "with space/and+plus.json",
    "100% done.json",
    "unicodé/日本語/файл.json",
    "deep/" + "/".join(f"d{i}" for i in range(30)) + "/leaf.json",
    "../../etc/passwd",
    "/absolute/path.json",
    "a/./b/../c.json",
    "back\\slash\\..\\evil.json",
    "ctrl\x01char\n.json",
    "double//slash.json",
    "x" * 300 + ".json",
    "..",
    "/",
]


def fetched(key: str, content: bytes, version: str = "v1", bucket: str = "landing", offset: int = 0) -> FetchedFile:
    ref = ObjectRef(bucket, key, version, "etag", None, len(content), T0 + timedelta(seconds=offset), "ObjectCreated:Put")
    return FetchedFile(ref, content, version, "etag")


def members(bundle_data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(bundle_data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_same_files_in_another_order_give_the_same_bytes():
    files = [fetched(f"k{i}.json", f"content {i}".encode(), offset=i) for i in range(20)]
    shuffled = files[:]
    random.Random(7).shuffle(shuffled)
    a, b = build_bundle(files), build_bundle(shuffled)
    assert a.data == b.data and a.sha256 == b.sha256 and a.bundle_id == b.bundle_id


def test_sha256_is_of_the_exact_gzip_bytes():
    bundle = build_bundle([fetched("a.json", b"{}")])
    assert bundle.sha256 == hashlib.sha256(bundle.data).hexdigest()
    assert len(bundle.sha256) == 64 and bundle.sha256 == bundle.sha256.lower()


def test_gzip_header_has_no_timestamp_or_name():
    data = build_bundle([fetched("a.json", b"{}")]).data
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\x00\x00\x00\x00"  # MTIME
    assert data[3] & 0x08 == 0  # FNAME flag


def test_manifest_is_first_and_lists_every_file_with_its_hash():
    files = [fetched(k, f"body of {k!r}".encode()) for k in AWKWARD_KEYS]
    bundle = build_bundle(files)
    with tarfile.open(fileobj=io.BytesIO(bundle.data), mode="r:gz") as tar:
        assert tar.getmembers()[0].name == MANIFEST_NAME
    content = members(bundle.data)
    manifest = json.loads(content[MANIFEST_NAME])
    assert manifest["bundle_id"] == bundle.bundle_id
    assert manifest["file_count"] == len(files)
    by_key = {entry["key"]: entry for entry in manifest["files"]}
    assert set(by_key) == set(AWKWARD_KEYS)
    for f in files:
        entry = by_key[f.ref.key]
        assert entry["sha256"] == hashlib.sha256(f.content).hexdigest()
        assert content[entry["member"]] == f.content
        assert (entry["size"], entry["version_id"], entry["bucket"]) == (f.size, "v1", "landing")


def test_created_at_comes_from_the_events_not_the_clock():
    bundle = build_bundle([fetched("a", b"1", offset=5), fetched("b", b"2", offset=90)])
    assert bundle.manifest["created_at"] == "2026-11-25T10:01:30.000000Z"


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_member_names_are_safe_to_extract(key):
    name = member_name("landing", key)
    assert not name.startswith("/") and "\\" not in name
    assert all(part not in ("", ".", "..") for part in name.split("/"))
    assert all(ord(ch) >= 0x20 and ord(ch) != 0x7F for ch in name)


def test_every_bundle_extracts_with_the_tarfile_data_filter(tmp_path: Path):
    bundle = build_bundle([fetched(k, k.encode("utf-8", "replace")) for k in AWKWARD_KEYS])
    target = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(bundle.data), mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    extracted = [p for p in target.rglob("*") if p.is_file()]
    assert len(extracted) == len(AWKWARD_KEYS) + 1
    assert all(target in p.resolve().parents for p in extracted)


def test_two_versions_of_one_key_get_distinct_members():
    bundle = build_bundle([fetched("same.json", b"one", version="v1"), fetched("same.json", b"two", version="v2")])
    content = members(bundle.data)
    assert sorted(v for k, v in content.items() if k != MANIFEST_NAME) == [b"one", b"two"]


def test_zero_byte_file_is_bundled():
    bundle = build_bundle([fetched("empty.json", b"")])
    entry = bundle.manifest["files"][0]
    assert entry["size"] == 0 and entry["sha256"] == hashlib.sha256(b"").hexdigest()
    assert members(bundle.data)[entry["member"]] == b""


def test_large_batches_split_into_bundles_under_the_limit():
    files = [fetched(f"k{i:02}", b"x" * 400) for i in range(10)]
    groups = plan_bundles(files, max_bytes=1000)
    assert [len(g) for g in groups] == [2, 2, 2, 2, 2]
    assert sorted(f.ref.key for g in groups for f in g) == sorted(f.ref.key for f in files)


def test_archive_key_is_time_partitioned_and_content_addressed():
    bundle = build_bundle([fetched("a", b"1", offset=3600 * 3)])
    assert archive_key("bundles", bundle) == f"bundles/2026/11/25/13/{bundle.sha256}.tar.gz"


def test_bundle_decompresses_with_python_gzip():
    bundle = build_bundle([fetched("a", b"hello")])
    assert tarfile.open(fileobj=io.BytesIO(gzip.decompress(bundle.data)))


def test_a_key_that_is_also_a_directory_of_another_key_extracts(tmp_path: Path):
    bundle = build_bundle([fetched("a", b"file a"), fetched("a/b", b"file a/b")])
    with tarfile.open(fileobj=io.BytesIO(bundle.data), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    contents = sorted(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    assert contents == [b"file a", b"file a/b"]


def test_bundle_decompresses_with_gnu_gzip(tmp_path: Path):
    import shutil
    import subprocess

    if shutil.which("gzip") is None:
        pytest.fail("GNU gzip is part of every Debian base image this project runs on")
    bundle = build_bundle([fetched(k, k.encode("utf-8", "replace") * 100) for k in AWKWARD_KEYS])
    plain = subprocess.run(["gzip", "-dc"], input=bundle.data, capture_output=True, check=True).stdout
    assert plain == gzip.decompress(bundle.data)
