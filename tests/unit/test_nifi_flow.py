"""The shipped NiFi flow implements the contract: processors present and wired."""

import json
from pathlib import Path

import pytest

FLOW = Path(__file__).parents[2] / "nifi" / "courier-receiver.json"


@pytest.fixture(scope="module")
def flow():
    return json.loads(FLOW.read_text())["flowContents"]


def by_name(flow):
    components = flow["processors"] + flow["outputPorts"]
    return {c["name"]: c for c in components}


def edges(flow):
    names = {c["identifier"]: c["name"] for c in flow["processors"] + flow["outputPorts"]}
    return {
        (names[c["source"]["id"]], rel, names[c["destination"]["id"]])
        for c in flow["connections"]
        for rel in c["selectedRelationships"]
    }


def test_processors_of_the_contract_are_present(flow):
    types = {p["type"].rsplit(".", 1)[1] for p in flow["processors"]}
    assert {"HandleHttpRequest", "CryptographicHashContent", "RouteOnAttribute", "HandleHttpResponse", "DetectDuplicate"} <= types
    services = {s["type"].rsplit(".", 1)[1] for s in flow["controllerServices"]}
    assert {"StandardHttpContextMap", "StandardSSLContextService"} <= services


def test_request_to_response_path_is_connected(flow):
    assert edges(flow) >= {
        ("Receive bundle", "success", "Check credentials"),
        ("Check credentials", "authorized", "Hash body"),
        ("Check credentials", "unmatched", "Respond 401"),
        ("Hash body", "success", "Compare hash"),
        ("Compare hash", "hash-matches", "Route probes"),
        ("Compare hash", "unmatched", "Respond 422"),
        ("Route probes", "unmatched", "Respond 200"),
        ("Respond 200", "success", "Drop duplicate bundles (optional)"),
        ("Drop duplicate bundles (optional)", "non-duplicate", "to customer flow"),
    }


def reachable(flow, start, relationship=None):
    """Names reachable from ``start`` (leaving it only by ``relationship``, if given)."""
    graph = edges(flow)
    seen, todo = set(), [dst for src, rel, dst in graph if src == start and relationship in (None, rel)]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [dst for src, _, dst in graph if src == name]
    return seen


def test_probes_are_answered_200_after_both_checks_and_dropped(flow):
    procs = by_name(flow)
    rules = [
        (p["name"], relationship, expression)
        for p in flow["processors"]
        if p["type"].endswith("RouteOnAttribute")
        for relationship, expression in p["properties"].items()
        if "X-Courier-Probe" in expression
    ]
    assert len(rules) == 1, rules
    router, relationship, expression = rules[0]
    assert expression == "${'http.headers.X-Courier-Probe':equalsIgnoreCase('true')}"  # courier sends "true"
    assert procs[router]["properties"]["Routing Strategy"] == "Route to Property name"
    # Only a request that passed the credential and the hash check gets there.
    assert {(src, rel) for src, rel, dst in edges(flow) if dst == router} == {("Compare hash", "hash-matches")}
    assert {(src, rel) for src, rel, dst in edges(flow) if dst == "Compare hash"} == {("Hash body", "success")}
    assert {(src, rel) for src, rel, dst in edges(flow) if dst == "Hash body"} == {("Check credentials", "authorized")}
    # It is answered 200 by a HandleHttpResponse, and then dropped.
    (responder,) = {dst for src, rel, dst in edges(flow) if src == router and rel == relationship}
    answer = procs[responder]
    assert answer["type"].endswith("HandleHttpResponse") and answer["properties"]["HTTP Status Code"] == "200"
    assert answer["properties"]["HTTP Context Map"] == procs["Respond 200"]["properties"]["HTTP Context Map"]
    assert {"success", "failure"} <= set(answer["autoTerminatedRelationships"])
    assert reachable(flow, router, relationship) == {responder}  # never DetectDuplicate, never the output port
    # Every other accepted bundle goes on as before.
    assert {"Respond 200", "Drop duplicate bundles (optional)", "to customer flow"} <= reachable(flow, router, "unmatched")


def test_hash_is_sha256_compared_with_the_header(flow):
    procs = by_name(flow)
    assert procs["Hash body"]["properties"]["Hash Algorithm"] == "SHA-256"
    assert "content_SHA-256" in procs["Compare hash"]["properties"]["hash-matches"]
    assert "X-Content-SHA256" in procs["Compare hash"]["properties"]["hash-matches"]
    assert procs["Respond 200"]["properties"]["HTTP Status Code"] == "200"
    assert procs["Respond 422"]["properties"]["HTTP Status Code"] == "422"
    assert procs["Respond 401"]["properties"]["HTTP Status Code"] == "401"


def test_listener_uses_tls_and_the_context_map(flow):
    receive = by_name(flow)["Receive bundle"]["properties"]
    service_ids = {s["identifier"]: s["type"] for s in flow["controllerServices"]}
    assert service_ids[receive["SSL Context Service"]].endswith("StandardSSLContextService")
    assert service_ids[receive["HTTP Context Map"]].endswith("StandardHttpContextMap")
    assert receive["Allowed Paths"] == "/contentListener" and receive["Allow POST"] == "true"


def test_every_connection_ends_at_a_component_of_the_group(flow):
    ids = {c["identifier"] for c in flow["processors"] + flow["outputPorts"]}
    for connection in flow["connections"]:
        assert connection["source"]["id"] in ids and connection["destination"]["id"] in ids


def test_secrets_are_sensitive_parameters():
    parameters = json.loads(FLOW.read_text())["parameterContexts"]["courier-receiver"]["parameters"]
    sensitive = {p["name"] for p in parameters if p["sensitive"]}
    assert sensitive == {"courier.keystore.password", "courier.truststore.password"}
    assert all(p["value"] is None for p in parameters if p["sensitive"])
