"""Map S3 keys to tar member names that are safe to extract anywhere (pure).

S3 keys may hold anything: ``../``, leading ``/``, backslashes, control
characters. A member name must have none of these, so that extracting a bundle
with any tool cannot write outside its target directory. The mapping is
deterministic (the same key always gives the same name) and the manifest keeps
the original key, so nothing is lost by it.
"""

from __future__ import annotations

import hashlib

FILES_DIR = "files"
MAX_COMPONENT_BYTES = 255  # common file-system limit on one path component


def _escape_char(ch: str) -> str:
    if ch == "\\" or ch == "%" or ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"%{ord(ch):02X}"
    return ch


def _safe_component(component: str) -> str:
    if component in {".", ".."}:
        return component.replace(".", "%2E")
    escaped = "".join(_escape_char(ch) for ch in component)
    if len(escaped.encode("utf-8")) > MAX_COMPONENT_BYTES:
        digest = hashlib.sha256(escaped.encode("utf-8")).hexdigest()[:16]
        escaped = escaped.encode("utf-8")[: MAX_COMPONENT_BYTES - 17].decode("utf-8", "ignore") + "~" + digest
    return escaped


def member_name(bucket: str, key: str) -> str:
    """``files/<bucket>/<key>`` with every unsafe component escaped.

    ``%`` is escaped too, which keeps the mapping one-to-one: two different
    keys never map to the same name (empty components aside, which are
    dropped; :func:`unique_names` resolves those rare collisions).
    """
    components = [_safe_component(c) for c in key.split("/") if c != ""]
    if not components:
        components = ["%2F"]
    return "/".join([FILES_DIR, _safe_component(bucket), *components])


def unique_names(candidates: list[tuple[str, str]]) -> list[str]:
    """Make names unique and extractable: ``candidates`` are ``(name, tiebreak)`` pairs.

    S3 allows both ``a`` and ``a/b``, and two versions of one key; a file system
    allows neither a file where a directory must be nor two files of one name. Such
    a name gets a suffix derived from its tiebreak (the object identity), so the
    result depends only on the set of files.
    """
    seen: dict[str, int] = {}
    directories: set[str] = set()
    for name, _ in candidates:
        seen[name] = seen.get(name, 0) + 1
        parts = name.split("/")
        directories.update("/".join(parts[:i]) for i in range(1, len(parts)))
    result = []
    for name, tiebreak in candidates:
        if seen[name] > 1 or name in directories:
            name = f"{name}~{hashlib.sha256(tiebreak.encode('utf-8')).hexdigest()[:12]}"
        result.append(name)
    return result
