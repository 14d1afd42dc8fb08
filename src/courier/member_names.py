"""Map S3 keys to tar member names that are safe to extract anywhere (pure).

S3 keys may hold anything: ``../``, leading ``/``, backslashes, control
characters. A member name must have none of these, so that extracting a bundle
with any tool cannot write outside its target directory. The mapping is
deterministic (the same key always gives the same name) and the manifest keeps
the original key, so nothing is lost by it.
"""

from __future__ import annotations

import hashlib
import unicodedata

FILES_DIR = "files"
MAX_COMPONENT_BYTES = 255  # common file-system limit on one path component


def _escape_char(ch: str) -> str:
    if ch == "\\" or ch == "%" or ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"%{ord(ch):02X}"
    return ch


def _safe_component(component: str) -> str:
    # NFC: bsdtar composes NFD names as it extracts, macOS file systems compare them equal;
    # names written composed extract the same everywhere (the manifest keeps the key as it was).
    component = unicodedata.normalize("NFC", component)
    if component in {".", ".."}:
        return component.replace(".", "%2E")
    escaped = "".join(_escape_char(ch) for ch in component)
    if len(escaped.encode("utf-8")) > MAX_COMPONENT_BYTES:
        digest = hashlib.sha256(escaped.encode("utf-8")).hexdigest()[:16]
        escaped = escaped.encode("utf-8")[: MAX_COMPONENT_BYTES - 17].decode("utf-8", "ignore") + "~" + digest
    return escaped


def member_name(bucket: str, key: str) -> str:
    """``files/<bucket>/<key>`` with every unsafe component escaped.

    ``%`` is escaped too, which keeps the mapping nearly one-to-one: two
    different keys map to one name only through dropped empty components,
    long components cut to 255 bytes or Unicode spellings that compose alike;
    :func:`unique_names` resolves those collisions.
    """
    components = [_safe_component(c) for c in key.split("/") if c != ""]
    if not components:
        components = ["%2F"]
    return "/".join([FILES_DIR, _safe_component(bucket), *components])


SUFFIX_HEX = 12  # "~" + this many hex digits of the tiebreak's hash


def fold(name: str) -> str:
    """What a case-insensitive, normalisation-insensitive file system compares (macOS, Windows).

    Canonical caseless matching (Unicode 3.13): ``NFD(casefold(NFD(name)))``, so
    ``A.csv``/``a.csv`` and NFC/NFD spellings of ``é`` are one name.
    """
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def suffixed(name: str, tiebreak: str, attempt: int = 0) -> str:
    """``name`` with ``~<hex>`` appended to its last component, which is cut to keep it <= 255 bytes."""
    seed = tiebreak if attempt == 0 else f"{tiebreak}#{attempt}"
    suffix = "~" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:SUFFIX_HEX]
    head, _, last = name.rpartition("/")
    room = MAX_COMPONENT_BYTES - len(suffix)
    last = last.encode("utf-8")[:room].decode("utf-8", "ignore") + suffix
    return f"{head}/{last}" if head else last


def unique_names(candidates: list[tuple[str, str]]) -> list[str]:
    """Make names unique and extractable: ``candidates`` are ``(name, tiebreak)`` pairs.

    S3 allows both ``a`` and ``a/b``, two versions of one key, ``A`` beside
    ``a`` and NFC beside NFD spellings; a file system allows neither a file
    where a directory must be nor two files of one name, and some compare names
    ignoring case and normalisation. Names are compared folded (:func:`fold`):
    a name shared by several files, or that is (folded) a directory of another,
    gets a suffix derived from its tiebreak (the object identity), so the
    result depends only on the set of files. Every suffixed name is checked
    again, against the names kept literally too (an uploader may spell a key
    exactly like another's suffixed name: the literal one keeps its name, the
    suffix is derived anew), so no two files ever share a member.
    """
    counts: dict[str, int] = {}
    directories: set[str] = set()
    for name, _ in candidates:
        folded = fold(name)
        counts[folded] = counts.get(folded, 0) + 1
        parts = folded.split("/")
        directories.update("/".join(parts[:i]) for i in range(1, len(parts)))
    # Suffixing changes only the last component, so the directories stay as computed.
    keep = [counts[fold(name)] == 1 and fold(name) not in directories for name, _ in candidates]
    taken = {fold(name) for (name, _), kept in zip(candidates, keep, strict=True) if kept}
    result = []
    for (name, tiebreak), kept in zip(candidates, keep, strict=True):
        if not kept:
            attempt = 0
            while True:
                candidate = suffixed(name, tiebreak, attempt)
                folded = fold(candidate)
                if folded not in taken and folded not in directories:
                    break
                attempt += 1
            taken.add(folded)
            name = candidate
        result.append(name)
    return result
