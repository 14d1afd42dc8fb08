"""The shipped NiFi flow holds together for every supported NiFi release, without Java.

The property, sensitivity and relationship names come from ``nifi/contract-test/property-names/<version>.json``,
which the contract test (tests/integration/test_nifi_contract.py) generates from NiFi's own jars and keeps in
step. That test also runs the flow; these checks cover what makes a flow definition wrong before it runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FLOW = ROOT / "nifi" / "courier-receiver.json"
TABLES = sorted((ROOT / "nifi" / "contract-test" / "property-names").glob("*.json"))
PARAMETER = re.compile(r"#\{([^}]+)\}")
ROUTE = "org.apache.nifi.processors.standard.RouteOnAttribute"
RESPONSE = "org.apache.nifi.processors.standard.HandleHttpResponse"
LISTENER = "org.apache.nifi.processors.standard.HandleHttpRequest"


@pytest.fixture(scope="module")
def definition():
    return json.loads(FLOW.read_text())


@pytest.fixture(scope="module")
def flow(definition):
    return definition["flowContents"]


def names(flow):
    return {c["identifier"]: c["name"] for c in flow["processors"] + flow["outputPorts"]}


def by_name(flow):
    return {p["name"]: p for p in flow["processors"]}


def edges(flow):
    ids = names(flow)
    return {
        (ids[c["source"]["id"]], rel, ids[c["destination"]["id"]])
        for c in flow["connections"]
        for rel in c["selectedRelationships"]
    }


def relationships(component, table):
    """What the processor offers: RouteOnAttribute's are 'unmatched' plus one per routing rule (dynamic property)."""
    if component["type"] == ROUTE:
        return {"unmatched"} | {name for name in component["properties"] if name != "Routing Strategy"}
    return set(table[component["type"]]["relationships"])


def reachable(flow, start, relationship=None, without=frozenset()):
    graph = edges(flow) - set(without)
    seen, todo = set(), [dst for src, rel, dst in graph if src == start and relationship in (None, rel)]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [dst for src, _, dst in graph if src == name]
    return seen


def status_of(flow, name):
    component = by_name(flow).get(name)
    return component["properties"]["HTTP Status Code"] if component and component["type"] == RESPONSE else None


def listener(flow):
    (receive,) = [p for p in flow["processors"] if p["type"] == LISTENER]
    return receive


@pytest.mark.parametrize("table_path", TABLES, ids=lambda p: p.stem)
def test_every_property_is_one_the_supported_nifi_release_declares(flow, table_path):
    table = json.loads(table_path.read_text())
    for component in flow["processors"] + flow["controllerServices"]:
        declared = set(table[component["type"]]["properties"])
        unknown = set(component["properties"]) - declared
        if component["type"] == ROUTE:
            unknown -= {name for name in component["properties"] if name != "Routing Strategy"}  # the routing rules
        assert not unknown, f"{component['name']}: not properties of {component['type']} in NiFi {table_path.stem}: {unknown}"


@pytest.mark.parametrize("table_path", TABLES, ids=lambda p: p.stem)
def test_sensitive_parameters_are_referenced_only_whole_by_sensitive_properties(definition, flow, table_path):
    table = json.loads(table_path.read_text())
    parameters = {p["name"]: p for p in definition["parameterContexts"]["courier-receiver"]["parameters"]}
    for component in flow["processors"] + flow["controllerServices"]:
        sensitive_properties = set(table[component["type"]]["sensitive"])
        for prop, value in component["properties"].items():
            for referenced in PARAMETER.findall(value):
                assert referenced in parameters, f"{component['name']}/{prop}: unknown parameter {referenced}"
                if parameters[referenced]["sensitive"]:
                    assert prop in sensitive_properties, (
                        f"{component['name']}/{prop} is not sensitive but references {referenced}"
                    )
                    assert value == f"#{{{referenced}}}", (
                        f"{component['name']}/{prop}: a sensitive parameter must be the whole value"
                    )
                else:
                    assert prop not in sensitive_properties, f"{component['name']}/{prop} is sensitive, {referenced} is not"
    secret = {name for name, p in parameters.items() if p["sensitive"]}
    assert secret == {"courier.keystore.password", "courier.truststore.password"}
    assert all(parameters[name]["value"] is None for name in secret), "no secret value ships in the flow"


@pytest.mark.parametrize("table_path", TABLES, ids=lambda p: p.stem)
def test_every_relationship_is_routed_or_auto_terminated_and_never_both(flow, table_path):
    table = json.loads(table_path.read_text())
    out = edges(flow)
    for component in flow["processors"]:
        connected = {rel for src, rel, _ in out if src == component["name"]}
        terminated = set(component["autoTerminatedRelationships"])
        assert not connected & terminated, component["name"]
        assert connected | terminated == relationships(component, table), component["name"]


def test_every_request_gets_an_answer_on_every_path(flow):
    """From the listener, every relationship of every processor before an answer leads to a HandleHttpResponse."""
    processors = by_name(flow)
    answered = {name for name, p in processors.items() if p["type"] == RESPONSE}
    before_answer = {listener(flow)["name"]} | (reachable(flow, listener(flow)["name"]) - answered)
    for name in before_answer - {p["name"] for p in flow["outputPorts"]}:
        component = processors[name]
        for rel in {rel for src, rel, _ in edges(flow) if src == name} | set(component["autoTerminatedRelationships"]):
            assert rel not in component["autoTerminatedRelationships"], f"{name}/{rel} drops a request without an answer"
            assert reachable(flow, name, rel) & answered, f"{name}/{rel} never answers"


def test_200_only_after_the_hash_is_verified_and_duplicates_checked(flow):
    ok = {name for name in by_name(flow) if status_of(flow, name) == "200"}
    assert ok
    verified = {("Verify hash", "verified", "Route replays")}
    assert not ok & reachable(flow, "Receive bundle", without=verified), "a 200 without the hash check"
    expression = by_name(flow)["Verify hash"]["properties"]["verified"]
    assert "fileSize:gt(0)" in expression, "an empty body must not be verified"
    assert "equalsIgnoreCase(${'content_SHA-256'})" in expression
    # A bundle that is not a replay reaches a 200 only through the duplicate check, which sees it before the answer.
    assert not ok & reachable(flow, "Route replays", "unmatched", without={e for e in edges(flow) if e[0] == "Detect duplicate"})


def test_kept_bundles_reach_the_output_port_only_as_non_duplicates_or_replays(flow):
    port = flow["outputPorts"][0]["name"]
    into_port = {(src, rel) for src, rel, dst in edges(flow) if dst == port}
    assert into_port == {("Route probes", "unmatched"), ("Route replays", "replay")}
    assert ("Detect duplicate", "non-duplicate", "Route probes") in edges(flow)
    # The same FlowFile also goes to the answer: the port's copy does not depend on the 200 being delivered.
    assert "Respond 200" in reachable(flow, "Route probes", "unmatched")
    assert "Respond 200" in reachable(flow, "Route replays", "replay")


def test_replays_bypass_duplicate_detection_and_reach_the_port_before_their_200(flow):
    rule = by_name(flow)["Route replays"]["properties"]["replay"]
    assert rule == "${anyMatchingAttribute('(?i)http[.]headers[.]x-courier-replay'):equalsIgnoreCase('true')}"
    assert ("Verify hash", "verified", "Route replays") in edges(flow), "only a verified replay bypasses the cache"
    downstream = reachable(flow, "Route replays", "replay")
    assert "Detect duplicate" not in downstream and flow["outputPorts"][0]["name"] in downstream
    assert {status_of(flow, name) for name in downstream} - {None} == {"200"}


def test_duplicate_cache_failure_is_answered_503_never_dropped(flow):
    detect = by_name(flow)["Detect duplicate"]
    assert "failure" not in detect["autoTerminatedRelationships"]
    answers = {status_of(flow, name) for name in reachable(flow, "Detect duplicate", "failure")} - {None}
    assert answers == {"503"}
    assert detect["properties"]["Cache Entry Identifier"] == "${'content_SHA-256'}"


def seconds(duration):
    number, unit = re.fullmatch(r"(\d+)\s*(\w+)", duration).groups()
    return int(number) * {"sec": 1, "secs": 1, "min": 60, "mins": 60}[unit]


def test_a_failed_cache_check_is_answered_503_at_once_not_after_a_penalty(flow):
    """DetectDuplicate penalizes what it routes to failure: NiFi holds a penalized FlowFile back for the penalty
    duration, so with the default 30 s the context map's expiry would answer first, late."""
    assert seconds(by_name(flow)["Detect duplicate"]["penaltyDuration"]) == 0
    assert seconds(by_name(flow)["Hash body"]["penaltyDuration"]) == 0
    services = {s["name"]: s["properties"] for s in flow["controllerServices"]}
    cache_timeout = seconds(services["courier-dedup-cache"]["Communications Timeout"])
    expiration = seconds(services["courier-http-context-map"]["Request Expiration"])
    assert cache_timeout <= 5 and expiration == 15
    # An unreachable cache host costs one Communications Timeout; the 503 still comes well before the expiry.
    assert cache_timeout * 2 < expiration


def test_error_answers_carry_no_body(flow):
    """HandleHttpResponse writes the FlowFile content as the body: every non-200 answer is fed only by a
    ModifyBytes that removes all content, so no error echoes the bundle back."""
    processors = by_name(flow)
    for name in processors:
        if status_of(flow, name) not in (None, "200"):
            feeders = {src for src, _, dst in edges(flow) if dst == name}
            assert feeders, name
            for feeder in feeders:
                assert processors[feeder]["type"].endswith(".ModifyBytes"), f"{feeder} feeds {name} with the bundle"
                assert processors[feeder]["properties"] == {"Remove All Content": "true"}


def test_probes_pass_the_checks_that_fail_bundles_then_are_answered_200_and_dropped(flow):
    rule = by_name(flow)["Route probes"]["properties"]["probe"]
    assert rule == "${anyMatchingAttribute('(?i)http[.]headers[.]x-courier-probe'):equalsIgnoreCase('true')}"
    # After the duplicate check: a cache outage or a full connection answers a probe 503 as it would a bundle.
    assert {(src, rel) for src, rel, dst in edges(flow) if dst == "Route probes"} == {("Detect duplicate", "non-duplicate")}
    downstream = reachable(flow, "Route probes", "probe")
    assert {status_of(flow, name) for name in downstream} - {None} == {"200"}
    assert flow["outputPorts"][0]["name"] not in downstream


def test_listener_reads_as_many_uploads_at_once_as_courier_sends(flow):
    """HandleHttpRequest reads each request body in its own task: one task would make every upload wait
    for the slowest. courier sends at most the event source mapping's maximum_concurrency bundles at once."""
    variables = (ROOT / "infra" / "terraform" / "modules" / "aggregator" / "variables.tf").read_text()
    block = variables[variables.index('variable "maximum_concurrency"') :]
    concurrency = int(re.search(r"default\s*=\s*(\d+)", block).group(1))
    assert listener(flow)["concurrentlySchedulableTaskCount"] >= concurrency


def test_header_attributes_are_matched_whatever_the_case_of_the_header_name(flow):
    for component in flow["processors"]:
        for prop, value in component["properties"].items():
            if "http.headers" in value or "http[.]headers" in value:
                assert "http.headers." not in value, f"{component['name']}/{prop} reads a header attribute by its exact case"
                assert all(m.startswith("(?i)") for m in re.findall(r"anyMatchingAttribute\('([^']*)'\)", value))


def test_clients_are_authorized_by_certificate_subject_or_salted_credential(flow):
    rules = by_name(flow)["Authorize client"]["properties"]
    assert "#{courier.client.subject}" in rules["allowed-certificate"]
    assert (
        "prepend(#{courier.credential.salt}):hash('SHA-256'):in(#{courier.credential.sha256},#{courier.credential.sha256.next})"
        in rules["valid-credential"]
    )
    # During a rotation the next generation (nifi/README.md) is accepted beside the current one.
    # ... and only from courier's issuer: another CA in the truststore cannot vouch for courier's subject.
    allowed = (
        "${http.issuer.dn:equals(#{courier.client.issuer})"
        ":and(${http.subject.dn:in(#{courier.client.subject},#{courier.client.subject.next})})}"
    )
    assert rules["allowed-certificate"] == "${http.subject.dn:isEmpty():not():and(" + allowed + ")}"
    assert rules["forbidden-certificate"] == "${http.subject.dn:isEmpty():not():and(" + allowed[:-1] + ":not()})}"
    assert rules["valid-credential"].startswith("${http.subject.dn:isEmpty():and(")  # a presented certificate decides alone

    def answers(rel):
        return {status_of(flow, name) for name in reachable(flow, "Authorize client", rel)} - {None}

    assert answers("unmatched") == {"401"} and answers("forbidden-certificate") == {"403"}


def _quoted_parameter_references(value: str) -> list[str]:
    """#{...} inside a quoted string literal of an expression (${...}): NiFi's parameter parser leaves references
    inside an expression to the expression engine, which does not expand anything inside a literal."""
    found, depth, quote, i = [], 0, "", 0
    while i < len(value):
        c = value[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
            elif value.startswith("#{", i):
                found.append(value[i : value.index("}", i) + 1])
        elif value.startswith("${", i):
            depth, i = depth + 1, i + 1
        elif depth and c in "'\"":
            quote = c
        elif depth and c == "}":
            depth -= 1
        i += 1
    return found


def test_no_parameter_reference_sits_inside_a_quoted_expression_literal(flow):
    for component in flow["processors"] + flow["controllerServices"]:
        for prop, value in component["properties"].items():
            assert not _quoted_parameter_references(value or ""), f"{component['name']}/{prop}: write #{{...}} unquoted"
    # The check itself: it finds the form that never matched in a real NiFi, and passes the form that does.
    assert _quoted_parameter_references("${http.subject.dn:in('#{a}','x')}") == ["#{a}"]
    assert _quoted_parameter_references("${http.subject.dn:in(#{a},'#')}#{b}") == []


def test_the_credential_attribute_is_removed_right_after_authorization(flow):
    """The clear-text Authorization header must not ride on the FlowFile into provenance or the customer flow."""
    remove = by_name(flow)["Remove credential"]
    assert remove["type"] == "org.apache.nifi.processors.attributes.UpdateAttribute"
    assert remove["properties"] == {"Delete Attributes Expression": "(?i)http[.]headers[.]authorization"}
    into = [
        (c["source"]["name"], sorted(c["selectedRelationships"]))
        for c in flow["connections"]
        if c["destination"]["name"] == "Remove credential"
    ]
    assert into == [("Authorize client", ["allowed-certificate", "valid-credential"])]
    out = [
        (c["destination"]["name"], c["selectedRelationships"])
        for c in flow["connections"]
        if c["source"]["name"] == "Remove credential"
    ]
    assert out == [("Hash body", ["success"])]


def test_client_certificates_are_required_unless_header_mode_is_configured(definition):
    parameters = {p["name"]: p["value"] for p in definition["parameterContexts"]["courier-receiver"]["parameters"]}
    assert parameters["courier.client.auth"] == "Need Authentication"


def test_listener_is_https_on_a_free_port_with_client_authentication(definition, flow):
    receive = listener(flow)["properties"]
    services = {s["identifier"]: s for s in flow["controllerServices"]}
    assert services[receive["SSL Context Service"]]["type"] == "org.apache.nifi.ssl.StandardRestrictedSSLContextService"
    assert services[receive["HTTP Context Map"]]["type"] == "org.apache.nifi.http.StandardHttpContextMap"
    parameters = {p["name"]: p["value"] for p in definition["parameterContexts"]["courier-receiver"]["parameters"]}
    assert parameters["courier.listen.port"] not in {"8443", "8080"}  # NiFi 2's own UI ports
    assert receive["Client Authentication"] == "#{courier.client.auth}"
    assert parameters["courier.client.auth"] in {"Want Authentication", "Need Authentication"}
    assert receive["Allowed Paths"] == "/contentListener" and receive["Allow POST"] == "true"


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("sha256sum") is None, reason="needs bash and sha256sum")
def test_readme_credential_hash_command_computes_what_the_flow_compares():
    readme = (ROOT / "nifi" / "README.md").read_text()
    (command,) = [line.strip() for line in readme.splitlines() if "sha256sum" in line and "SALT" in line]
    salt, authorization = "3f9a1c", "Bearer tok-en_with/odd=chars"
    shown = subprocess.run(
        ["bash", "-c", command],
        env={"SALT": salt, "AUTHORIZATION": authorization, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    # What the flow computes: ${header:prepend(salt):hash('SHA-256')}, lowercase hex of the UTF-8 bytes.
    assert shown.stdout.strip() == hashlib.sha256((salt + authorization).encode()).hexdigest()


def test_readme_cites_only_contract_tests_and_cases_that_exist():
    readme = (ROOT / "nifi" / "README.md").read_text()
    java = (ROOT / "nifi" / "contract-test" / "src" / "test" / "java" / "courier" / "nifi" / "FlowContractTest.java").read_text()
    cited = re.findall(r"FlowContractTest\.(\w+)", readme)
    assert cited and all(f"void {name}(" in java for name in cited), cited
    cases = {c["name"] for c in json.loads((ROOT / "nifi" / "contract-test" / "cases.json").read_text())}
    table_cases = set(re.findall(r"`((?:mtls|credential|wrong|no-cert|need-authentication|other-trusted)-[a-z-]*)`", readme))
    assert table_cases and table_cases <= cases, table_cases - cases
    assert cases <= table_cases, f"cases the README does not mention: {cases - table_cases}"
