"""Reads NiFi's source for releases the contract test cannot run: is every property the flow sets declared there?

    python nifi/contract-test/check_source_names.py /path/to/nifi.git rel/nifi-2.0.0 rel/nifi-2.11.0 HEAD

A rough check by design (it collects every ``.name("...")`` of the component's source file, relationships
included); the proof for the releases that resolve from Maven is the contract test itself.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

FLOW = Path(__file__).parents[1] / "courier-receiver.json"
PROCESSORS = (
    "nifi-extension-bundles/nifi-standard-bundle/nifi-standard-processors/src/main/java/org/apache/nifi/processors/standard/"
)
SERVICES = "nifi-extension-bundles/nifi-standard-services/"
SSL = SERVICES + "nifi-ssl-context-bundle/nifi-ssl-context-service/src/main/java/org/apache/nifi/ssl/"
SOURCES = {
    "HandleHttpRequest": [PROCESSORS + "HandleHttpRequest.java"],
    "HandleHttpResponse": [PROCESSORS + "HandleHttpResponse.java"],
    "RouteOnAttribute": [PROCESSORS + "RouteOnAttribute.java"],
    "CryptographicHashContent": [PROCESSORS + "CryptographicHashContent.java"],
    "DetectDuplicate": [PROCESSORS + "DetectDuplicate.java"],
    "ModifyBytes": [PROCESSORS + "ModifyBytes.java"],
    "StandardHttpContextMap": [
        SERVICES
        + "nifi-http-context-map-bundle/nifi-http-context-map/src/main/java/org/apache/nifi/http/StandardHttpContextMap.java"
    ],
    "StandardRestrictedSSLContextService": [
        SSL + "StandardRestrictedSSLContextService.java",
        SSL + "StandardSSLContextService.java",
    ],
    "MapCacheClientService": [
        SERVICES + "nifi-distributed-cache-services-bundle/nifi-distributed-cache-client-service/src/main/java/"
        "org/apache/nifi/distributed/cache/client/MapCacheClientService.java"
    ],
    "MapCacheServer": [
        SERVICES + "nifi-distributed-cache-services-bundle/nifi-distributed-cache-server/src/main/java/"
        "org/apache/nifi/distributed/cache/server/" + name
        for name in ("map/MapCacheServer.java", "AbstractCacheServer.java")
    ],
}


def source(git_dir: str, tag: str, path: str) -> str:
    shown = subprocess.run(["git", "--git-dir", git_dir, "show", f"{tag}:{path}"], capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else ""


def problems(git_dir: str, tag: str) -> list[str]:
    flow = json.loads(FLOW.read_text())["flowContents"]
    found = []
    for component in flow["processors"] + flow["controllerServices"]:
        kind = component["type"].rsplit(".", 1)[1]
        text = "".join(source(git_dir, tag, path) for path in SOURCES[kind])
        if not text:
            found.append(f"{kind}: no source at {tag}")
            continue
        declared = set(re.findall(r'\.name\("([^"]+)"\)', text))
        for prop in component["properties"]:
            if kind == "RouteOnAttribute" and prop != "Routing Strategy":
                continue  # routing rules are dynamic properties
            if prop not in declared:
                found.append(f"{component['name']}: property {prop!r}")
        for relationship in component.get("autoTerminatedRelationships", []):
            if relationship not in declared:
                found.append(f"{component['name']}: relationship {relationship!r}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: check_source_names.py NIFI_GIT_DIR TAG...", file=sys.stderr)
        return 2
    failed = False
    for tag in argv[1:]:
        found = problems(argv[0], tag)
        failed |= bool(found)
        print(f"{tag}: {'ok' if not found else '; '.join(found)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
