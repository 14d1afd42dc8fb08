"""Member names are unique and extractable by construction, whatever keys an uploader picks.

Every bundle is extracted with Python's ``tarfile`` (``data`` filter), GNU tar
and, where installed, bsdtar (``libarchive-tools``): one hostile key set must
not make a bundle unextractable for the other uploaders' files in it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courier.bundle import MANIFEST_NAME, FetchedFile, build_bundle
from courier.events import ObjectRef
from courier.member_names import MAX_COMPONENT_BYTES, fold, member_name, suffixed, unique_names

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BUCKET = "landing"


def fetched(key: str, version: str) -> FetchedFile:
    content = json.dumps([key, version]).encode()  # distinct per file, so a swapped member shows
    ref = ObjectRef(BUCKET, key, version, "etag", None, len(content), T0, "ObjectCreated:Put")
    return FetchedFile(ref, content, version, "etag")


def lookalike(key: str, version: str, attempt: int = 0) -> str:
    """The key whose literal member name is the suffixed name ``key``'s version would get."""
    return suffixed(member_name(BUCKET, key), f"v:{version}", attempt).removeprefix(f"files/{BUCKET}/")


def extract_with_tarfile(data: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(target, filter="data")


def extract_with(tool: str):
    def extract(data: bytes, target: Path) -> None:
        archive = target.parent / f"{target.name}.tar.gz"
        archive.write_bytes(data)
        target.mkdir()
        env = {**os.environ, "LC_ALL": "C.UTF-8"}  # bsdtar writes PAX (UTF-8) names in the locale's charset
        command = [tool, "-xzf", str(archive), "-C", str(target)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        assert done.returncode == 0, f"{tool}: {done.stderr}"

    return extract


EXTRACTORS = {"tarfile": extract_with_tarfile, "gnu-tar": extract_with("tar")}
if shutil.which("bsdtar"):
    EXTRACTORS["bsdtar"] = extract_with("bsdtar")


def check_bundle(files: list[FetchedFile]) -> None:
    """Names are bounded and unique (folded too); every tool extracts every file to its manifest member."""
    bundle = build_bundle(files)
    entries = bundle.manifest["files"]
    members = [entry["member"] for entry in entries]
    assert sorted((e["key"], e["version_id"]) for e in entries) == sorted((f.ref.key, f.version_id) for f in files)
    folded = [fold(m) for m in members]
    assert len(set(folded)) == len(folded), "two files share a member (ignoring case and normalisation)"
    directories = {"/".join(m.split("/")[:i]) for m in folded for i in range(1, m.count("/") + 1)}
    assert not directories & set(folded), "a file where a directory must be"
    assert all(len(part.encode()) <= MAX_COMPONENT_BYTES for m in members for part in m.split("/"))
    expected = {
        entry["member"]: f.content
        for entry in entries
        for f in files
        if (f.ref.key, f.version_id) == (entry["key"], entry["version_id"])
    }
    assert shutil.which("tar"), "GNU tar is part of the base system"
    with tempfile.TemporaryDirectory() as tmp:
        for tool, extract in EXTRACTORS.items():
            target = Path(tmp) / tool
            extract(bundle.data, target)
            for member, content in expected.items():
                assert (target / member).read_bytes() == content, f"{tool}: {member!r}"
            assert sum(1 for p in target.rglob("*") if p.is_file()) == len(files) + 1  # + manifest
            assert json.loads((target / MANIFEST_NAME).read_bytes()) == bundle.manifest


def test_a_key_spelled_like_another_keys_suffixed_name_gets_its_own_member():
    files = [fetched("a.csv", "v1"), fetched("a.csv", "v2"), fetched(lookalike("a.csv", "v1"), "v9")]
    check_bundle(files)


def test_the_literal_name_keeps_its_member_and_the_suffix_is_derived_anew():
    literal = suffixed("files/landing/a", "v:v1")
    names = unique_names([("files/landing/a", "v:v1"), ("files/landing/a", "v:v2"), (literal, "v:v3")])
    assert names[2] == literal and names[0] == suffixed("files/landing/a", "v:v1", 1)
    assert len(set(names)) == 3


def test_a_255_byte_file_that_is_also_a_directory_extracts():
    long = "x" * MAX_COMPONENT_BYTES
    check_bundle([fetched(long, "v1"), fetched(f"{long}/inside.csv", "v1"), fetched("honest.csv", "v1")])


def test_case_only_pairs_get_distinct_names_ignoring_case():
    names = unique_names([("files/l/A.csv", "v:1"), ("files/l/a.csv", "v:2")])
    assert fold(names[0]) != fold(names[1])
    check_bundle([fetched("A.csv", "v1"), fetched("a.csv", "v1")])


def test_nfc_and_nfd_spellings_get_distinct_names():
    check_bundle([fetched("caf\u00e9.csv", "v1"), fetched("cafe\u0301.csv", "v1"), fetched("CAF\u00c9/x", "v1")])


def test_a_file_clashing_with_a_directory_only_by_case_is_suffixed():
    names = unique_names([("files/l/Data", "v:1"), ("files/l/data/x.csv", "v:2")])
    assert names[0] != "files/l/Data" and names[1] == "files/l/data/x.csv"


# Adversarial components: case-only and NFC/NFD pairs, "~", components at the 255-byte limit (one multibyte).
COMPONENTS = st.one_of(
    st.sampled_from(["a", "A", "\u00e9", "e\u0301", "\u00c9", "~", "x" * 255, "X" * 255, "\u00e9" * 127 + "x", "x" * 254]),
    st.text(alphabet="aAx~\u00e9", min_size=1, max_size=3),
)
KEYS = st.lists(COMPONENTS, min_size=1, max_size=3).map("/".join)


@st.composite
def adversarial_files(draw) -> list[FetchedFile]:
    pairs: list[tuple[str, str]] = []
    for key in draw(st.lists(KEYS, min_size=1, max_size=5)):
        versions = draw(st.lists(st.sampled_from(["v1", "v2"]), min_size=1, max_size=2, unique=True))
        pairs.extend((key, version) for version in versions)
        if draw(st.booleans()):  # a file inside it: the key is also a directory
            pairs.append((f"{key}/{draw(COMPONENTS)}", "v1"))
    for key, version in draw(st.lists(st.sampled_from(pairs), max_size=3)):  # suffix look-alikes
        pairs.append((lookalike(key, version, draw(st.integers(0, 1))), draw(st.sampled_from(["v1", "v3"]))))
    return [fetched(key, version) for key, version in dict.fromkeys(pairs)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(adversarial_files())
def test_adversarial_key_sets_extract_with_every_tool_one_member_per_file(files):
    check_bundle(files)


@pytest.mark.skipif(not shutil.which("bsdtar"), reason="bsdtar not installed (apt-get install libarchive-tools)")
def test_bsdtar_is_among_the_extractors_when_installed():
    assert "bsdtar" in EXTRACTORS
