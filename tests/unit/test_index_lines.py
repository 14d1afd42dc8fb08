"""The archive index: one line per file whatever the key, and a bad line is skipped and named, never fatal.

A key holding U+2028, U+2029 or U+0085 used to be written raw; readers split with
``str.splitlines`` (which breaks there) and one unguarded ``json.loads`` failed
``replay --file`` and ``trace`` for every file of that hour.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from test_operator_tools import LedgerOf, MemoryArchive, bundle_key
from test_trace import DLQ, Lister, Reader

from courier.bundle import FetchedFile, build_bundle, index_lines, read_index
from courier.events import ObjectRef
from courier.operator.replay import SourceFile, select_bundles
from courier.operator.trace import trace
from courier.ports import Revision
from fakes import InMemoryLedger

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
SEPARATORS = "line\u2028sep\u2029para\u0085next\x1c\x1d\x1e\rend"
HOSTILE = f"in/{SEPARATORS}.csv"
GARBAGE = b'{"bucket": "landing", "key": \x1b]0;owned\x07 \xff'


def test_an_index_line_stays_one_line_whatever_the_key_holds():
    files = [
        FetchedFile(ObjectRef("landing", k, "v1", "etag", None, 1, T0, "ObjectCreated:Put"), b"x", "v1", "etag")
        for k in (HOSTILE, "b")
    ]
    data = index_lines(build_bundle(files), "bundles/k.tar.gz")
    assert data.isascii()
    lines = data.decode().splitlines()  # the strictest splitter: every Unicode line boundary
    assert len(lines) == 2 == data.count(b"\n")
    assert sorted(json.loads(line)["key"] for line in lines) == sorted([HOSTILE, "b"])


def _index(hour: datetime, *raw_lines: bytes) -> tuple[str, bytes]:
    return f"index/{hour:%Y/%m/%d/%H}/a.jsonl", b"\n".join(raw_lines) + b"\n"


def test_a_line_that_does_not_parse_is_skipped_and_named_escaped():
    good = json.dumps({"bucket": "landing", "key": "k", "bundle_key": "bundles/x.tar.gz"}).encode()
    parsed = read_index(b"\n".join([good, GARBAGE, b"[1, 2]", b'{"bucket": 3}', good]), "index/i.jsonl")
    assert [e["key"] for e in parsed.entries] == ["k", "k"]
    assert [note.split(":")[0] for note in parsed.unreadable] == [f"index/i.jsonl line {n}" for n in (2, 3, 4)]
    assert all(note.isascii() and note.isprintable() for note in parsed.unreadable)


def test_replay_file_finds_a_file_beside_a_raw_separator_line_and_a_broken_one():
    hour = T0
    delivered = bundle_key(hour, "a")
    # As older code wrote it: the key's U+2028 raw (ensure_ascii=False), which splitlines() cut in two.
    raw = json.dumps({"bucket": "landing", "key": HOSTILE, "bundle_key": delivered}, ensure_ascii=False).encode()
    honest = json.dumps({"bucket": "landing", "key": "in/f.json", "bundle_key": delivered}).encode()
    index, data = _index(hour, raw, GARBAGE, honest)
    archive = MemoryArchive({index: data}, delivered={delivered})
    for key in ("in/f.json", HOSTILE):
        selection = select_bundles(archive, "bundles", source=SourceFile("landing", key, T0, T0), ledger=LedgerOf())
        assert (selection.keys, selection.found_through) == ([delivered], "index")
        assert selection.unreadable_index_lines == [f"{index} line 2: {GARBAGE[:80]!r}"]


def test_trace_reads_past_a_broken_index_line_and_names_it():
    bundle = f"bundles/{T0:%Y/%m/%d/%H}/{'ab' * 32}.tar.gz"
    index = f"index/{T0:%Y/%m/%d/%H}/{'ab' * 32}.jsonl"
    entry = {"bucket": "courier-landing", "key": "in/a.csv", "version_id": "v1", "bundle_key": bundle}
    raw = json.dumps({**entry, "key": HOSTILE}, ensure_ascii=False).encode()
    reader = Reader({index: b"\n".join([raw, GARBAGE, json.dumps(entry).encode()])}, {bundle})
    lister = Lister(Revision("in/a.csv", "v1", 3, "etag", T0))
    story = trace("courier-landing", "in/a.csv", None, lister, InMemoryLedger(), reader, "bundles", DLQ())
    assert story.verdict.value == "delivered" and story.bundles[0].file_count == 2
    assert story.unreadable_index_lines == [f"{index} line 2: {GARBAGE[:80]!r}"]
    assert story.as_dict()["unreadable_index_lines"] == story.unreadable_index_lines
