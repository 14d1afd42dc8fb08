"""Every setting the infrastructure issue asks for, read from the Terraform itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from courier import resources as provision
from courier.ledger.base import EXPIRY_ATTRIBUTE, PARTITION_KEY, SORT_KEY
from terraform import (
    MODULES,
    POLICIES,
    conditions,
    data_sources,
    default,
    load,
    load_file,
    locals_,
    resources,
    statements,
    template_statements,
    templatefile_call,
    variables,
)

MODULE_NAMES = sorted(p.name for p in MODULES.iterdir() if p.is_dir())


def policy(module: str, name: str = "this") -> list[dict]:
    """The statements of a module's policy `name`: its aws_iam_policy_document, or the template an
    aws_iam_role_policy of that name renders (infra/terraform/policies, read as the module renders it)."""
    document = data_sources(module).get(("aws_iam_policy_document", name))
    if document is not None:
        return statements(document)
    return template_statements(module, resources(module)[("aws_iam_role_policy", name)]["policy"])


def by_sid(module: str, name: str = "this") -> dict[str, dict]:
    return {s["sid"]: s for s in policy(module, name) if "sid" in s}


# --- conventions ----------------------------------------------------------------


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_has_the_standard_files(module):
    for file in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (MODULES / module / file).is_file(), f"{module}/{file}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_every_variable_is_typed_and_described(module):
    for name, body in variables(module).items():
        assert "type" in body, f"{module}.{name} has no type"
        assert len(body.get("description", "")) > 10, f"{module}.{name} has no description"


# Modules whose main resources are several: each is named for what it is, and none is `this`.
SEVERAL_MAIN_RESOURCES = {"state_tables": {("aws_dynamodb_table", "idempotency"), ("aws_dynamodb_table", "breaker")}}


@pytest.mark.parametrize("module", [m for m in MODULE_NAMES if m not in {"pipeline", *SEVERAL_MAIN_RESOURCES}])
def test_main_resource_is_named_this(module):
    main = list(resources(module)) or list(data_sources(module))  # s3_tls_policy holds only a policy document
    assert any(name == "this" for _, name in main)


@pytest.mark.parametrize("module", sorted(SEVERAL_MAIN_RESOURCES))
def test_this_is_reserved_for_a_single_main_resource(module):
    assert SEVERAL_MAIN_RESOURCES[module] <= set(resources(module))
    assert not any(name == "this" for _, name in resources(module))


ENVS = MODULES.parent / "envs"
ENV_VALUES = {
    "staging": {"maximum_concurrency": 4, "monthly_budget_amount": 100},
    "prod": {"maximum_concurrency": 10, "monthly_budget_amount": 250},
}


def test_envs_compose_the_pipeline_in_eu_west_2():
    for env in ("staging", "prod"):
        text = (ENVS / env / "main.tf").read_text()
        assert 'source = "../../modules/pipeline"' in text and "environment             = local.environment" in text
        assert f'environment           = "{env}"' in (ENVS / env / "env.tf").read_text()
        assert 'default     = "eu-west-2"' in (ENVS / env / "variables.tf").read_text()


def test_envs_share_one_layout_and_differ_only_in_env_tf():
    for env, values in ENV_VALUES.items():
        shared = {p.name for p in (ENVS / env).glob("*.tf") if p.is_symlink()}
        assert shared == {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}
        assert all((ENVS / env / name).resolve().parent == (ENVS / "_shared").resolve() for name in shared)
        with open(ENVS / env / "env.tf", encoding="utf-8") as handle:
            (block,) = hcl2.load(handle)["locals"]
        assert {k: block[k] for k in values} == values
        assert {p.name for p in (ENVS / env).glob("*.tf") if not p.is_symlink()} == {"env.tf"}


def test_the_readme_lists_the_prerequisites_and_what_is_not_checked_here():
    readme = (MODULES.parent / "README.md").read_text()
    for needed in (
        "enableDnsSupport",  # private DNS of the interface endpoints
        "Resolver",  # NiFi's on-premise name from inside the VPC
        "cost allocation tag",
        ".terraform.lock.hcl",
        "terraform providers lock -platform=linux_amd64 -platform=linux_arm64 -platform=darwin_arm64",
        "Nothing here ever runs against real AWS",  # the checks table says what each ran against
    ):
        assert needed in readme, needed


# --- landing bucket ---------------------------------------------------------------


def test_landing_bucket_versioned_expiring_encrypted_private():
    r = resources("landing_bucket")
    assert r[("aws_s3_bucket_versioning", "this")]["versioning_configuration"][0]["status"] == "Enabled"
    rule = r[("aws_s3_bucket_lifecycle_configuration", "this")]["rule"][0]
    assert rule["expiration"][0]["days"] == "${var.expiration_days}" and default("landing_bucket", "expiration_days") == 7
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == "${var.noncurrent_expiration_days}"
    # the data outlives any message naming it (test_no_lifecycle_rule_deletes_an_undelivered_revision_...)
    assert default("landing_bucket", "noncurrent_expiration_days") == provision.LANDING_NONCURRENT_DAYS
    sse = r[("aws_s3_bucket_server_side_encryption_configuration", "this")]["rule"][0]["apply_server_side_encryption_by_default"][
        0
    ]
    assert sse["sse_algorithm"] == "AES256"
    block = r[("aws_s3_bucket_public_access_block", "this")]
    assert all(
        block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    (queue,) = [d["queue"] for d in r[("aws_s3_bucket_notification", "this")]["dynamic"] if "queue" in d]
    assert queue["content"][0]["events"] == ["s3:ObjectCreated:*"]


@pytest.mark.parametrize("module", ["landing_bucket", "archive_bucket"])
def test_buckets_deny_requests_without_tls_or_below_tls_1_2(module):
    sids = by_sid("s3_tls_policy")
    assert sids["DenyInsecureTransport"]["effect"] == "Deny"
    assert ("Bool", "aws:SecureTransport", ["false"]) in [
        (c["test"], c["variable"], c["values"]) for c in sids["DenyInsecureTransport"]["condition"]
    ]
    tls = sids["DenyTlsBelow12"]["condition"][0]
    assert (sids["DenyTlsBelow12"]["effect"], tls["test"], tls["variable"], tls["values"]) == (
        "Deny",
        "NumericLessThan",
        "s3:TlsVersion",
        ["1.2"],
    )
    # ... and each bucket's policy is built on those statements, for its own ARN.
    modules = {name: body for block in load(module).get("module", []) for name, body in block.items()}
    assert modules["tls"]["source"] == "../s3_tls_policy" and modules["tls"]["bucket_arn"] == "${aws_s3_bucket.this.arn}"
    assert data_sources(module)[("aws_iam_policy_document", "this")]["source_policy_documents"] == ["${module.tls.json}"]


def test_external_party_may_only_put_from_its_source_ranges():
    sids = by_sid("landing_bucket")
    allow = sids["UploaderMayOnlyPut"]
    assert allow["actions"] == ["s3:PutObject"]
    condition = allow["condition"][0]
    assert (condition["test"], condition["variable"], condition["values"]) == (
        "IpAddress",
        "aws:SourceIp",
        "${var.uploader_source_cidrs}",
    )
    deny = sids["UploaderMayNotReadListOrDelete"]
    assert deny["effect"] == "Deny"
    assert {"s3:GetObject", "s3:ListBucket", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deny["actions"])
    assert sids["UploaderPutOnlyFromItsRanges"]["condition"][0]["test"] == "NotIpAddress"
    validation = variables("landing_bucket")["uploader_source_cidrs"]["validation"][0]["condition"]
    assert "0.0.0.0/0" in validation


def test_an_uploader_cannot_tag_its_own_file_delivered():
    # backfill --skip-delivered trusts the landing tag courier-delivered (earlier releases wrote it):
    # neither a tagging call nor PutObject's x-amz-tagging (both need s3:PutObjectTagging) may set it.
    deny = by_sid("landing_bucket")["UploaderMayNotReadListOrDelete"]
    assert deny["effect"] == "Deny"
    assert {"s3:PutObjectTagging", "s3:PutObjectVersionTagging"} <= set(deny["actions"])


# --- archive bucket -------------------------------------------------------------------


def test_archive_moves_bundles_to_deep_archive_and_writer_only_puts():
    r = resources("archive_bucket")
    assert r[("aws_s3_bucket_versioning", "this")]["versioning_configuration"][0]["status"] == "Enabled"
    rules = {rule["id"]: rule for rule in r[("aws_s3_bucket_lifecycle_configuration", "this")]["rule"]}
    transition = rules["delivered-bundles-to-deep-archive"]["transition"][0]
    assert transition == {"days": "${var.deep_archive_after_days}", "storage_class": "DEEP_ARCHIVE"}
    assert default("archive_bucket", "bundle_prefix") == "bundles"
    sids = by_sid("archive_bucket")
    writes = ("WriterMayOnlyPut", "WriterMayPutIndexLines", "${statement.key}")
    writer = {a for sid in writes for a in sids[sid]["actions"]}
    assert writer == {"s3:PutObject", "s3:PutObjectTagging"}
    assert sids["WriterMayNotDeleteOrReadVersions"]["effect"] == "Deny"
    assert {"s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(
        sids["WriterMayNotDeleteOrReadVersions"]["actions"]
    )
    assert "s3:RestoreObject" in sids["ReplayMayReadAndRestore"]["actions"]


def test_the_archive_writer_puts_only_bundles_and_index_lines():
    from courier.bundle import INDEX_PREFIX
    from courier.config import Settings, read_setting

    bundles = read_setting(Settings, "archive_prefix", {})
    assert (default("archive_bucket", "bundle_prefix"), default("archive_bucket", "index_prefix")) == (bundles, INDEX_PREFIX)
    prefixes = ["${aws_s3_bucket.this.arn}/${var.bundle_prefix}/*", "${aws_s3_bucket.this.arn}/${var.index_prefix}/*"]
    sids = by_sid("archive_bucket")
    assert sids["WriterMayOnlyPut"]["resources"] == prefixes
    assert sids["WriterMayPutIndexLines"]["resources"] == prefixes[1:]
    elsewhere = sids["WriterMayNotPutElsewhere"]
    assert elsewhere["effect"] == "Deny" and elsewhere["not_resources"] == prefixes
    assert set(elsewhere["actions"]) == {"s3:PutObject", "s3:PutObjectTagging"}
    # The role's own statements name the same two prefixes (the code's defaults).
    role = by_sid("aggregator")
    writes = ("WriteBundlesOnlyAsNewObjects", "UploadBundleParts", "WriteIndexLines")
    written = {r for sid in writes for r in role[sid]["resources"]}
    assert written == {f"${{var.archive_bucket_arn}}/{bundles}/*", f"${{var.archive_bucket_arn}}/{INDEX_PREFIX}/*"}


NEW_OBJECTS_ONLY = {"test": "Null", "variable": "s3:if-none-match", "values": ["false"]}
PARTS = {"test": "Bool", "variable": "s3:ObjectCreationOperation", "values": ["false"]}


def _bundle_write_statements(module: str) -> list[dict]:
    """The statements that let a bundle be written, one per condition (a dynamic block's expanded)."""
    if module == "aggregator":
        sids = by_sid(module)
        return [sids["WriteBundlesOnlyAsNewObjects"], sids["UploadBundleParts"]]
    document = data_sources(module)[("aws_iam_policy_document", "this")]
    (dynamic,) = [d["statement"] for d in document["dynamic"] if "WriterMayOnlyPutNewBundles" in d["statement"]["for_each"]]
    content = {k: v for k, v in dynamic["content"][0].items() if k != "dynamic"}
    assert content["effect"] == "${statement.value.effect}"
    return [
        {
            **content,
            "sid": sid,
            "effect": each["effect"],
            "condition": [{"test": t, "variable": v, "values": [value]} for t, (v, value) in each["conditions"].items()],
        }
        for sid, each in dynamic["for_each"].items()
    ]


@pytest.mark.parametrize("module", ["archive_bucket", "aggregator"])
def test_an_archived_bundle_can_never_be_overwritten(module):
    # PutObject and CompleteMultipartUpload of a bundle only with If-None-Match (S3Archive.put sends
    # "*"); the multipart steps that take no such header only as such (AWS's documented pattern).
    new, parts = _bundle_write_statements(module)[:2]
    assert new["effect"] == parts["effect"] == "Allow"
    assert new["actions"] == ["s3:PutObject"] and new["condition"] == [NEW_OBJECTS_ONLY]
    assert parts["actions"] == ["s3:PutObject"] and parts["condition"] == [PARTS]
    assert new["resources"] == parts["resources"] and "bundle" in new["resources"][0]
    # No other statement lets the writer put a bundle unconditionally.
    for statement in policy(module):
        if statement.get("effect", "Allow") == "Allow" and statement.get("sid") not in (
            new["sid"],
            parts["sid"],
            "${statement.key}",
        ):
            if "s3:PutObject" in statement["actions"]:
                assert not any("bundle" in r for r in statement["resources"]), statement["sid"]
    assert "COURIER_ARCHIVE_PREFIX" not in _environment("aggregator")  # the default is what is deployed


def test_the_archive_refuses_an_unconditional_bundle_write_whatever_the_writers_role_allows():
    # An Allow in a bucket policy restricts nothing in the same account (the role's own Allow is
    # enough): only a Deny keeps a bundle write-once against a role given more later. It must
    # need both conditions (ANDed in one statement), or it would refuse the multipart steps too.
    *_, deny = _bundle_write_statements("archive_bucket")
    assert deny["sid"] == "WriterMayNotOverwriteBundles"
    assert deny["effect"] == "Deny" and deny["actions"] == ["s3:PutObject"]
    assert deny["resources"] == ["${aws_s3_bucket.this.arn}/${var.bundle_prefix}/*"]
    assert deny["principals"] == [{"type": "AWS", "identifiers": "${var.writer_role_arns}"}]
    assert sorted((c["test"], c["variable"], c["values"]) for c in deny["condition"]) == [
        ("Bool", "s3:ObjectCreationOperation", ["true"]),
        ("Null", "s3:if-none-match", ["true"]),
    ]


def test_an_undelivered_bundle_stays_readable_for_its_resend():
    rules = {rule["id"]: rule for rule in resources("archive_bucket")[("aws_s3_bucket_lifecycle_configuration", "this")]["rule"]}
    delivered = rules["delivered-bundles-to-deep-archive"]["filter"][0]["and"][0]
    assert delivered["prefix"] == "${var.bundle_prefix}/" and delivered["tags"] == {provision.DELIVERED_TAG: "true"}
    later = rules["undelivered-bundles-to-deep-archive"]
    assert "var.undelivered_transition_days" in later["transition"][0]["days"]
    floor = int(
        re.search(r">= (\d+)", variables("archive_bucket")["undelivered_transition_days"]["validation"][0]["condition"]).group(1)
    )
    assert floor * 86400 > provision.QUEUE_RETENTION_SECONDS + provision.DLQ_RETENTION_SECONDS
    # the writer reads bundles back (a resend), nothing else, and deletes nothing
    read = by_sid("archive_bucket")["WriterMayReadBundlesToResend"]
    assert read["actions"] == ["s3:GetObject"] and read["resources"] == ["${aws_s3_bucket.this.arn}/${var.bundle_prefix}/*"]
    role = by_sid("aggregator")["ReadArchivedBundlesToResend"]
    assert role["actions"] == ["s3:GetObject"] and role["resources"] == ["${var.archive_bucket_arn}/bundles/*"]


def test_small_bundles_reach_deep_archive_too():
    """S3's default since 2024 keeps objects under 128 KB out of every transition; a quiet hour's
    bundle must still move, so the archive sets the default size rule deliberately."""
    lifecycle = resources("archive_bucket")[("aws_s3_bucket_lifecycle_configuration", "this")]
    assert lifecycle["transition_default_minimum_object_size"] == "varies_by_storage_class"
    text = (MODULES / "archive_bucket" / "main.tf").read_text()
    assert "128 KB" in text and "40 KB" in text  # the why and the per-object trade-off are written down


def test_probe_objects_are_deleted_not_only_hidden_behind_a_delete_marker():
    # The archive is versioned: an expiration alone leaves each probe as a noncurrent version for ever.
    lifecycle = resources("archive_bucket")[("aws_s3_bucket_lifecycle_configuration", "this")]
    (rule,) = [r for r in lifecycle["rule"] if r["filter"][0].get("prefix") == "probes/"]
    assert rule["expiration"][0]["days"] == 1
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == 1


@pytest.mark.parametrize("module", ["landing_bucket", "archive_bucket"])
def test_every_lifecycle_rule_has_a_non_empty_filter(module):
    # `filter {}` makes newer providers warn (and will become an error); `filter { prefix = "" }` says "all".
    for rule in resources(module)[("aws_s3_bucket_lifecycle_configuration", "this")]["rule"]:
        (flt,) = rule["filter"]
        assert flt, f"{module}: rule {rule['id']} has an empty filter"


# --- queue ------------------------------------------------------------------------------


def test_queue_retention_visibility_redrive_and_sender():
    r = resources("queue")
    queue, dlq = r[("aws_sqs_queue", "this")], r[("aws_sqs_queue", "dlq")]
    assert default("queue", "retention_seconds") == 345600 == provision.QUEUE_RETENTION_SECONDS
    assert default("queue", "dlq_retention_seconds") == 1209600 == provision.DLQ_RETENTION_SECONDS
    assert queue["sqs_managed_sse_enabled"] is True and dlq["sqs_managed_sse_enabled"] is True
    assert queue["visibility_timeout_seconds"] == "${local.visibility_timeout_seconds}"
    formula = locals_("queue")["visibility_timeout_seconds"].replace(" ", "")
    assert formula == "${6*var.function_timeout_seconds+var.batching_window_seconds}"
    assert "maxReceiveCount = var.max_receive_count" in queue["redrive_policy"]
    assert default("queue", "max_receive_count") == 20 == provision.MAX_RECEIVE_COUNT
    sender = by_sid("queue")["OnlyTheLandingBucketSends"]
    assert sender["principals"][0]["identifiers"] == ["s3.amazonaws.com"] and sender["actions"] == ["sqs:SendMessage"]
    tests = {(c["test"], c["variable"]) for c in sender["condition"]}
    assert tests == {("ArnEquals", "aws:SourceArn"), ("StringEquals", "aws:SourceAccount")}


# --- the notification path: bucket notification, SNS topic or EventBridge rule ---------------------


def _dynamic_statements(module: str) -> dict[str, tuple[str, dict]]:
    """sid -> (the for_each that switches the statement on, the statement)."""
    document = data_sources(module)[("aws_iam_policy_document", "this")]
    return {
        d["statement"]["content"][0]["sid"]: (d["statement"]["for_each"], d["statement"]["content"][0])
        for d in document["dynamic"]
    }


def _sender(statement: dict) -> tuple[str, list[str], list[tuple[str, str, list[str]]]]:
    conditions = [(c["test"], c["variable"], c["values"]) for c in statement["condition"]]
    return statement["principals"][0]["identifiers"][0], statement["actions"], conditions


def test_queue_modes_come_from_one_validated_input():
    locals_text = locals_("queue")["notification_path"].replace(" ", "")
    assert locals_text == (
        '${var.notification_source.sns_topic_arn!=null?"sns":var.notification_source.eventbridge_bus_name!=null?"eventbridge":"bucket"}'
    )
    queue_var, pipeline_var = variables("queue")["notification_source"], variables("pipeline")["notification_source"]
    assert queue_var == pipeline_var and queue_var["default"] == {} and queue_var["nullable"] is False
    conditions = [v["condition"] for v in queue_var["validation"]]
    assert (
        "${var.notification_source.sns_topic_arn == null || var.notification_source.eventbridge_bus_name == null}" in conditions
    )


def test_exactly_one_sender_may_write_to_the_queue_per_mode():
    statements_ = _dynamic_statements("queue")
    bucket_on, bucket = statements_["OnlyTheLandingBucketSends"]
    sns_on, sns = statements_["OnlyTheLandingTopicSends"]
    rule_on, rule = statements_["OnlyTheObjectCreatedRuleSends"]
    assert bucket_on == '${local.notification_path == "bucket" ? [var.source_bucket_arn] : []}'
    assert sns_on == '${local.notification_path == "sns" ? [var.notification_source.sns_topic_arn] : []}'
    assert rule_on == "${aws_cloudwatch_event_rule.object_created[*].arn}"  # exists only in the eventbridge mode
    assert _sender(sns) == ("sns.amazonaws.com", ["sqs:SendMessage"], [("ArnEquals", "aws:SourceArn", ["${statement.value}"])])
    assert _sender(rule) == (
        "events.amazonaws.com",
        ["sqs:SendMessage"],
        [("ArnEquals", "aws:SourceArn", ["${statement.value}"])],
    )
    assert _sender(bucket)[0] == "s3.amazonaws.com"
    assert all(s["resources"] == ["${aws_sqs_queue.this.arn}"] and s["effect"] == "Allow" for _, s in statements_.values())


def test_sns_mode_subscribes_the_queue_to_the_existing_topic():
    subscription = resources("queue")[("aws_sns_topic_subscription", "landing")]
    assert subscription["count"] == '${local.notification_path == "sns" ? 1 : 0}'
    assert subscription["protocol"] == "sqs" and subscription["endpoint"] == "${aws_sqs_queue.this.arn}"
    assert subscription["topic_arn"] == "${var.notification_source.sns_topic_arn}"
    assert subscription["raw_message_delivery"] == "${var.notification_source.sns_raw_message_delivery}"
    assert subscription["depends_on"] == ["${aws_sqs_queue_policy.this}"]  # no message is sent before the queue accepts it


def test_eventbridge_mode_routes_the_landing_buckets_object_created_to_the_queue():
    r = resources("queue")
    rule, target = r[("aws_cloudwatch_event_rule", "object_created")], r[("aws_cloudwatch_event_target", "object_created")]
    assert rule["count"] == target["count"] == '${local.notification_path == "eventbridge" ? 1 : 0}'
    assert rule["event_bus_name"] == target["event_bus_name"] == "${var.notification_source.eventbridge_bus_name}"
    pattern = rule["event_pattern"].replace(" ", "")
    for part in (
        'source=["aws.s3"]',
        '"detail-type"=["Object Created"]'.replace(" ", ""),
        "bucket={name=[local.source_bucket_name]}",
    ):
        assert part in pattern
    assert locals_("queue")["source_bucket_name"] == '${element(split(":::", var.source_bucket_arn), 1)}'
    assert (
        target["arn"] == "${aws_sqs_queue.this.arn}" and target["rule"] == "${aws_cloudwatch_event_rule.object_created[0].name}"
    )


def test_the_pipeline_switches_the_bucket_notification_with_the_queue():
    queue, landing = _pipeline_module("queue"), _pipeline_module("landing_bucket")
    assert queue["notification_source"] == "${var.notification_source}"
    assert landing["sns_topic_arn"] == "${var.notification_source.sns_topic_arn}"
    assert landing["eventbridge"] == "${var.notification_source.eventbridge_bus_name != null}"
    notification = resources("landing_bucket")[("aws_s3_bucket_notification", "this")]
    paths = {name: body for d in notification["dynamic"] for name, body in d.items()}
    assert paths["queue"]["for_each"] == "${var.sns_topic_arn == null && !var.eventbridge ? [var.queue_arn] : []}"
    assert paths["topic"]["for_each"] == "${var.sns_topic_arn == null ? [] : [var.sns_topic_arn]}"
    assert notification["eventbridge"] == "${var.eventbridge}"
    assert notification["lifecycle"][0]["precondition"][0]["condition"] == "${!(var.eventbridge && var.sns_topic_arn != null)}"
    shared = (ENVS / "_shared" / "main.tf").read_text()
    assert "notification_source     = var.settings.notification_source" in shared


NOTIFICATION_SOURCES = {
    "{}": True,
    '{ sns_topic_arn = "arn:aws:sns:eu-west-2:123456789012:landing-events" }': True,
    '{ sns_topic_arn = "arn:aws:sns:eu-west-2:123456789012:landing-events", sns_raw_message_delivery = true }': True,
    '{ eventbridge_bus_name = "default" }': True,
    '{ sns_topic_arn = "arn:aws:sns:eu-west-2:123456789012:t", eventbridge_bus_name = "default" }': False,
    '{ sns_topic_arn = "landing-events" }': False,
    '{ sns_topic_arn = "arn:aws:sns:eu-west-2:123456789012:landing.fifo" }': False,
    '{ eventbridge_bus_name = "not a bus" }': False,
    '{ eventbridge_bus_name = "landing-events" }': False,  # a valid bus name, but S3 sends to "default" only
}


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed (CI has none)")
@pytest.mark.parametrize("value", sorted(NOTIFICATION_SOURCES))
def test_notification_source_validation_accepts_one_mode_at_a_time(value, tmp_path):
    for module in ("queue", "pipeline"):
        accepted, errors = _variable_accepts(module, "notification_source", value, tmp_path / module)
        assert accepted is NOTIFICATION_SOURCES[value], errors


def _variable_accepts(module: str, name: str, value: str, tmp_path: Path) -> tuple[bool, str]:
    """Whether a module's variable takes `value` (HCL), by `terraform plan` of its block alone:
    a variable block needs no provider, so its validations are evaluated offline."""
    text = (MODULES / module / "variables.tf").read_text()
    start = text.index(f'variable "{name}"')
    end = text.find("\nvariable ", start)
    block = text[start : end if end >= 0 else len(text)]
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "main.tf").write_text(block + f'\noutput "value" {{ value = var.{name} }}\n')
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "HOME": str(tmp_path)}
    subprocess.run(["terraform", "init", "-input=false"], cwd=tmp_path, env=env, capture_output=True, check=True)
    plan = subprocess.run(
        ["terraform", "plan", "-input=false", "-no-color", "-var", f"{name}={value}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    return plan.returncode == 0, plan.stderr


def test_the_examples_give_nifi_its_ca_through_the_secret_not_a_file_the_package_lacks():
    for env in ("staging", "prod"):
        settings = hcl2.loads((ENVS / env / "terraform.tfvars.example").read_text())["settings"]
        path = settings.get("nifi_ca_bundle_path", "")
        assert path == "" or path.startswith("/opt/"), f"{env}: {path} is not in the package"
    assert "ca_pem" in (MODULES.parent / "README.md").read_text()


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed (CI has none)")
@pytest.mark.parametrize(
    ("value", "valid"), [("", True), ("/opt/nifi/ca.pem", True), ("/var/task/nifi-ca.pem", False), ("ca.pem", False)]
)
def test_a_ca_bundle_path_outside_a_layer_is_refused_at_plan(value, valid, tmp_path):
    accepted, errors = _variable_accepts("pipeline", "nifi_ca_bundle_path", value, tmp_path)
    assert accepted is valid, errors


@pytest.mark.parametrize(("document", "queue"), [("this", "this"), ("dlq", "dlq")])
def test_both_queues_deny_every_action_without_tls(document, queue):
    deny = by_sid("queue", document)["DenyInsecureTransport"]
    assert deny["effect"] == "Deny" and deny["actions"] == ["sqs:*"]
    assert deny["resources"] == [f"${{aws_sqs_queue.{queue}.arn}}"]
    assert deny["principals"][0] == {"type": "*", "identifiers": ["*"]}
    assert ("Bool", "aws:SecureTransport", ["false"]) in [(c["test"], c["variable"], c["values"]) for c in deny["condition"]]
    attached = resources("queue")[("aws_sqs_queue_policy", document)]
    assert attached["queue_url"] == f"${{aws_sqs_queue.{queue}.id}}"
    assert attached["policy"] == f"${{data.aws_iam_policy_document.{document}.json}}"


# --- state tables -------------------------------------------------------------------------


def test_tables_match_the_code_and_are_protected():
    r = resources("state_tables")
    ledger, breaker = r[("aws_dynamodb_table", "idempotency")], r[("aws_dynamodb_table", "breaker")]
    assert (ledger["hash_key"], ledger["range_key"]) == (PARTITION_KEY, SORT_KEY)
    assert ledger["ttl"][0] == {"attribute_name": EXPIRY_ATTRIBUTE, "enabled": True}
    assert breaker["hash_key"] == provision.BREAKER_KEY
    assert breaker["ttl"][0]["attribute_name"] == provision.BREAKER_EXPIRY_ATTRIBUTE
    assert breaker["billing_mode"] == "PAY_PER_REQUEST"
    assert ledger["billing_mode"] == '${local.provisioned ? "PROVISIONED" : "PAY_PER_REQUEST"}'
    for table in (ledger, breaker):
        assert table["server_side_encryption"][0]["enabled"] is True
        assert table["point_in_time_recovery"][0]["enabled"] is True


def test_a_provisioned_ledger_is_auto_scaled_on_reads_and_writes_and_plans_keep_its_capacity():
    r = resources("state_tables")
    ledger = r[("aws_dynamodb_table", "idempotency")]
    # Auto scaling owns the capacity: a plan that reset it would undo every scale-up.
    assert [name.strip("${}") for name in ledger["lifecycle"][0]["ignore_changes"]] == ["read_capacity", "write_capacity"]
    target, policy = r[("aws_appautoscaling_target", "ledger")], r[("aws_appautoscaling_policy", "ledger")]
    assert target["for_each"] == policy["for_each"] == "${local.ledger_scaling}"
    assert policy["policy_type"] == "TargetTrackingScaling"
    scaling = str(locals_("state_tables")["ledger_scaling"])
    for dimension in ("ReadCapacityUnits", "WriteCapacityUnits"):
        assert dimension in scaling and f"DynamoDB{dimension[:-13]}CapacityUtilization" in scaling
    assert default("state_tables", "ledger_capacity") == {"mode": "on_demand"}


def test_prod_provisions_the_ledger_and_staging_pays_per_request():
    def env_locals(env: str) -> dict:
        parsed = load_file(MODULES.parent / "envs" / env / "env.tf")
        return {k: v for block in parsed["locals"] for k, v in block.items()}

    assert env_locals("prod")["ledger_capacity"]["mode"] == "provisioned"
    assert env_locals("staging")["ledger_capacity"]["mode"] == "on_demand"
    prod = env_locals("prod")["ledger_capacity"]
    # The floor carries the design's steady load (10 files/s at about one write unit a file) below the target utilisation.
    assert prod["write_min"] * prod["target_percent"] / 100 >= 10


# --- functions ----------------------------------------------------------------------------


def test_aggregator_runs_on_arm64_in_a_vpc_behind_a_live_alias():
    r = resources("aggregator")
    function = r[("aws_lambda_function", "this")]
    assert function["architectures"] == ["arm64"] and function["handler"] == "courier.handler.lambda_handler"
    assert default("aggregator", "runtime").startswith("python3.1")
    assert function["memory_size"] == "${var.memory_mb}" and function["timeout"] == "${var.timeout_seconds}"
    assert function["vpc_config"][0]["security_group_ids"] == ["${aws_security_group.this.id}"]
    assert r[("aws_lambda_alias", "this")]["name"] == "live"
    group = r[("aws_codedeploy_deployment_group", "this")]
    assert "Canary" in default("aggregator", "deployment_config_name")
    assert set(group["auto_rollback_configuration"][0]["events"]) == {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"}


def test_event_source_mapping_reports_batch_item_failures():
    mapping = resources("aggregator")[("aws_lambda_event_source_mapping", "this")]
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["function_name"] == "${aws_lambda_alias.this.arn}"
    assert mapping["maximum_batching_window_in_seconds"] == "${var.batching_window_seconds}"
    assert mapping["scaling_config"][0]["maximum_concurrency"] == "${var.maximum_concurrency}"
    # A batching window plus the slowest invocation must leave the 2-minute p95 (NFR-02) intact.
    assert default("aggregator", "batching_window_seconds") <= 30
    assert "enabled" in mapping["lifecycle"][0]["ignore_changes"][0]  # owned by the breaker controller


def test_aggregator_egress_is_only_nifi_and_the_endpoints():
    group = resources("aggregator")[("aws_security_group", "this")]
    assert "ingress" not in group
    egress = group["egress"]
    assert len(egress) == 3
    assert all("0.0.0.0/0" not in str(rule.get("cidr_blocks", "")) for rule in egress)
    assert egress[0]["cidr_blocks"] == ["${var.nifi_cidr}"] and egress[0]["from_port"] == "${var.nifi_port}"
    assert {rule.get("from_port") for rule in egress[1:]} == {443}


def allow_statements(module: str) -> list[dict]:
    return [s for s in policy(module) if s.get("effect", "Allow") == "Allow"]


FUNCTION_MODULES = ["aggregator", "breaker_controller"]

# The only `*` resource a function role may hold: EC2's Describe actions that Lambda needs for the
# function's ENIs support no resource-level permissions, so AWS accepts nothing but "*" for them.
STAR_ONLY_ACTIONS = {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}


def _attached_to_function_role(module: str) -> dict[tuple[str, str], dict]:
    """Every policy resource (inline or managed attachment) on the function's role."""
    return {
        key: body
        for key, body in resources(module).items()
        if key[0] in {"aws_iam_role_policy", "aws_iam_role_policy_attachment", "aws_iam_role_policies_exclusive"}
        and re.fullmatch(r"\$\{aws_iam_role\.this\.(id|name)\}", str(body.get("role", body.get("role_name", ""))))
    }


def function_role_statements(module: str) -> list[dict]:
    """The Allow statements of every inline policy on the function's role."""
    found = []
    for (rtype, _), body in _attached_to_function_role(module).items():
        if rtype != "aws_iam_role_policy":
            continue
        if templatefile_call(body["policy"]):
            document = template_statements(module, body["policy"])
        else:
            name = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", body["policy"]).group(1)
            document = policy(module, name)
        found += [s for s in document if s.get("effect", "Allow") == "Allow"]
    return found


@pytest.mark.parametrize("module", FUNCTION_MODULES)
def test_function_roles_render_their_policy_from_the_one_template_the_local_stack_enforces(module):
    # One document per role, in infra/terraform/policies: Terraform renders it with templatefile,
    # the local stack with the emulator's ARNs (courier.local.iam), and runs the function under it.
    assert ("aws_iam_policy_document", "this") not in data_sources(module)
    path, passed = templatefile_call(resources(module)[("aws_iam_role_policy", "this")]["policy"])
    assert path == f"../../policies/{module}.json.tftpl" and (POLICIES / f"{module}.json.tftpl").is_file()
    assert all(re.fullmatch(r"(var|local)\.\w+|aws_cloudwatch_log_group\.this\.arn", e) for e in passed.values()), passed
    # Every statement is read by the checks below (least privilege, no `*`), as the module renders it.
    assert {s["sid"] for s in policy(module)} == {s["Sid"] for s in json.loads(_placeholders_as_text(module))["Statement"]}


def _placeholders_as_text(module: str) -> str:
    return re.sub(r"\$\{\w+\}", "x", (POLICIES / f"{module}.json.tftpl").read_text())


@pytest.mark.parametrize("module", FUNCTION_MODULES)
def test_function_roles_hold_no_managed_policy(module):
    # A managed policy's document is not in this repository, so nothing here could check it;
    # AWSLambdaVPCAccessExecutionRole, for one, grants the ENI actions and logs on `*`.
    attached = {k: v for k, v in _attached_to_function_role(module).items() if k[0] != "aws_iam_role_policy"}
    assert not attached, f"{module}: managed policies {attached}"
    assert not any(t == "aws_iam_role" and "managed_policy_arns" in b for (t, _), b in resources(module).items())


@pytest.mark.parametrize("module", FUNCTION_MODULES)
def test_roles_are_least_privilege(module):
    statements = function_role_statements(module)
    assert {s["sid"] for s in statements} >= {s["sid"] for s in allow_statements(module)}  # this one and vpc
    for statement in statements:
        for action in statement["actions"]:
            assert "*" not in action, f"{module}: wildcard action {action}"
        listed = statement["resources"]
        # A list, or one expression that builds the list (concat(...), local.subnet_arns).
        for resource in [listed] if isinstance(listed, str) else listed:
            if resource == "*":
                assert set(statement["actions"]) <= STAR_ONLY_ACTIONS, f"{module}: `*` for {statement['actions']}"
                continue
            assert '"*"' not in resource and not resource.endswith(":*:*"), f"{module}: wildcard resource {resource}"
    # The exception is written down where it is made.
    assert "support no resource-level permissions" in (MODULES / module / "main.tf").read_text()


MANAGED_POLICY_TYPES = {
    "aws_iam_role_policy_attachment",
    "aws_iam_policy_attachment",
    "aws_iam_role_policy_attachments_exclusive",
    "aws_iam_user_policy_attachment",
    "aws_iam_group_policy_attachment",
}


def _inline_role_policies(module: str) -> dict[tuple[str, str], list[dict]]:
    """The statements of every policy a module writes (aws_iam_role_policy, aws_iam_policy), as rendered."""
    found = {}
    for (rtype, name), body in resources(module).items():
        if rtype not in {"aws_iam_role_policy", "aws_iam_policy"}:
            continue
        if templatefile_call(body["policy"]):
            found[(rtype, name)] = template_statements(module, body["policy"])
        else:
            document = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", body["policy"])
            assert document, f"{module}: {rtype}.{name} is not a policy document this test can read"
            found[(rtype, name)] = policy(module, document.group(1))
    return found


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_no_role_in_any_module_holds_a_managed_policy(module):
    # AWSCodeDeployRoleForLambdaLimited, for one, grants lambda:UpdateAlias and cloudwatch:DescribeAlarms
    # on `*`; a managed document is not in this repository, so nothing here could check it.
    r = resources(module)
    attached = sorted(k for k in r if k[0] in MANAGED_POLICY_TYPES)
    assert not attached, f"{module}: managed policies attached by {attached}"
    assert not [k for k, b in r.items() if k[0] == "aws_iam_role" and "managed_policy_arns" in b]
    assert ":iam::aws:policy/" not in (MODULES / module / "main.tf").read_text()


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_no_policy_in_any_module_grants_a_wildcard(module):
    for key, found in _inline_role_policies(module).items():
        for statement in found:
            if statement.get("effect", "Allow") != "Allow":
                continue
            for action in statement["actions"]:
                assert "*" not in action, f"{module} {key}: wildcard action {action}"
            listed = statement["resources"]
            for resource in [listed] if isinstance(listed, str) else listed:
                if resource == "*":
                    # The one documented exception (see STAR_ONLY_ACTIONS): EC2 Describe for the ENIs.
                    assert set(statement["actions"]) <= STAR_ONLY_ACTIONS, f"{module} {key}: `*` for {statement['actions']}"
                    continue
                assert '"*"' not in resource and not resource.endswith(":*:*"), f"{module} {key}: wildcard resource {resource}"


def test_every_role_of_every_module_is_covered_by_the_checks():
    roles = {(m, n) for m in MODULE_NAMES for (t, n) in resources(m) if t == "aws_iam_role"}
    assert roles == {("aggregator", "this"), ("aggregator", "codedeploy"), ("breaker_controller", "this")}
    for module, role in roles:
        holders = [
            key
            for key, body in resources(module).items()
            if re.search(rf"aws_iam_role\.{role}\.(id|name)", str(body.get("role", "")))
        ]
        assert holders and all(t == "aws_iam_role_policy" for t, _ in holders), (module, role, holders)
        assert all(key in _inline_role_policies(module) for key in holders)


def test_codedeploy_may_shift_only_this_functions_alias_and_watch_only_its_rollback_alarms():
    sids = by_sid("aggregator", "codedeploy")
    assert set(sids) == {
        "ShiftOnlyThisFunctionsLiveAlias",
        "ReadProvisionedConcurrencyOfThisFunction",
        "WatchOnlyTheRollbackAlarms",
    }
    shift = sids["ShiftOnlyThisFunctionsLiveAlias"]
    assert shift["actions"] == ["lambda:GetAlias", "lambda:UpdateAlias"]
    assert shift["resources"] == ["${local.function_arn}", "${aws_lambda_alias.this.arn}"]
    concurrency = sids["ReadProvisionedConcurrencyOfThisFunction"]
    assert concurrency["resources"] == ["${local.function_arn}", "${local.function_arn}:*"]
    alarms = sids["WatchOnlyTheRollbackAlarms"]
    assert alarms["actions"] == ["cloudwatch:DescribeAlarms"]
    assert alarms["resources"] == '${[for alarm in var.rollback_alarm_names : "${local.cloudwatch_arn}:alarm:${alarm}"]}'
    assert locals_("aggregator")["cloudwatch_arn"].startswith("arn:${data.aws_partition.current.partition}:cloudwatch:")
    group = resources("aggregator")[("aws_codedeploy_deployment_group", "this")]
    assert group["depends_on"] == ["${aws_iam_role_policy.codedeploy}"] and "trigger_configuration" not in group


@pytest.mark.parametrize("module", FUNCTION_MODULES)
def test_function_enis_only_in_its_subnets_with_its_group(module):
    sids = by_sid(module, "vpc")
    create = sids["CreateEnisOnlyInOwnSubnetsWithOwnGroup"]
    assert create["actions"] == ["ec2:CreateNetworkInterface"]
    expected = '${concat(["${local.ec2_arn}:network-interface/*", aws_security_group.this.arn], local.subnet_arns)}'
    assert create["resources"] == expected
    assert locals_(module)["subnet_arns"] == '${[for id in var.subnet_ids : "${local.ec2_arn}:subnet/${id}"]}'
    manage = sids["ManageEnisOnlyInOwnSubnets"]
    assert manage["resources"] == ["${local.ec2_arn}:network-interface/*"]
    assert [(c["test"], c["variable"], c["values"]) for c in manage["condition"]] == [
        ("ArnEquals", "ec2:Subnet", "${local.subnet_arns}")
    ]
    describe = sids["DescribeActionsTakeOnlyStar"]
    assert describe["resources"] == ["*"] and set(describe["actions"]) == STAR_ONLY_ACTIONS
    # Everything AWSLambdaVPCAccessExecutionRole grants for ENIs is covered, and nothing else.
    actions = {a for s in sids.values() for a in s["actions"]}
    assert actions == {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }


@pytest.mark.parametrize("module", ["aggregator", "breaker_controller", "monitoring", "secrets"])
def test_whatever_uses_a_role_waits_for_its_policies(module):
    """A function (or deployment group) created before its role's policies fails, or starts
    without its rights: IAM is not ordered by the references alone."""
    r = resources(module)
    for key, body in r.items():
        used_roles = set(re.findall(r"aws_iam_role\.(\w+)\.arn", str({k: v for k, v in body.items() if k != "depends_on"})))
        for role in used_roles:
            policies = {
                f"${{{t}.{n}}}"
                for (t, n), b in r.items()
                if t in {"aws_iam_role_policy", "aws_iam_role_policy_attachment"}
                and re.search(rf"aws_iam_role\.{role}\.(id|name)", str(b.get("role", "")))
            }
            assert policies <= set(body.get("depends_on", [])), f"{module}: {key} must depend on {policies}"


def test_aggregator_cannot_change_its_own_configuration():
    actions = {a for s in allow_statements("aggregator") for a in s["actions"]}
    assert not any(a.startswith("lambda:") for a in actions)
    deny = by_sid("aggregator")["NeverChangeItself"]
    assert deny["effect"] == "Deny" and {"lambda:UpdateFunctionConfiguration", "lambda:UpdateEventSourceMapping"} <= set(
        deny["actions"]
    )
    archive_actions = {a for s in allow_statements("aggregator") if "archive" in str(s["resources"]) for a in s["actions"]}
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersion"}.isdisjoint(archive_actions)


def test_controller_may_only_update_the_aggregators_mapping_every_minute():
    r = resources("breaker_controller")
    assert r[("aws_lambda_function", "this")]["handler"] == "courier.handler.controller_handler"
    assert default("breaker_controller", "schedule_expression") == "rate(1 minute)"
    read = by_sid("breaker_controller")["ReadThatMapping"]
    assert read["actions"] == ["lambda:GetEventSourceMapping"] and read["resources"] == ["${var.event_source_mapping_arn}"]
    switch = by_sid("breaker_controller")["PauseAndResumeOnlyThatMappingOfTheAggregator"]
    assert switch["actions"] == ["lambda:UpdateEventSourceMapping"] and switch["resources"] == ["${var.event_source_mapping_arn}"]
    # ... and only while it invokes the aggregator (its alias): no repointing it at another function.
    arn = "${var.aggregator_function_arn}"
    assert switch["condition"] == [{"test": "ArnLike", "variable": "lambda:FunctionArn", "values": [arn, arn + ":*"]}]
    assert _pipeline_module("breaker_controller")["aggregator_function_arn"] == "${module.aggregator.function_arn}"


def _environment(module: str) -> dict[str, str]:
    """A function's environment map, name -> expression (python-hcl2 keeps merge({...}, ...) as one string)."""
    text = resources(module)[("aws_lambda_function", "this")]["environment"][0]["variables"]
    return {name: value.strip() for name, value in re.findall(r"\b([A-Z][A-Z0-9_]+) = ([^,}]+)", text)}


def _pipeline_module(name: str) -> dict:
    return next(block[name] for block in load("pipeline")["module"] if name in block)


def _as_deployed(module: str, expression: str) -> str:
    """An expression of a module with each var.x replaced by what modules/pipeline passes (or its default)."""
    passed = _pipeline_module(module)

    def value(match: re.Match) -> str:
        name = match.group(1)
        return str(passed[name]) if name in passed else f"default:{default(module, name)}"

    return re.sub(r"var\.([a-z_]+)", value, expression)


# Settings that follow each function's own timeout (same formula, its own var.timeout_seconds).
PER_FUNCTION_SETTINGS = {"COURIER_FUNCTION_TIMEOUT_SECONDS", "COURIER_CLAIM_LEASE_SECONDS"}


def test_controller_gets_the_aggregators_settings_for_its_probe():
    from courier.config import PREFIX, ControllerSettings, Settings

    aggregator, controller = _environment("aggregator"), _environment("breaker_controller")
    assert set(aggregator) <= set(controller)  # every setting a delivery reads, the probe reads too
    for name in set(aggregator) - PER_FUNCTION_SETTINGS:
        assert _as_deployed("breaker_controller", controller[name]) == _as_deployed("aggregator", aggregator[name]), name
    for name in PER_FUNCTION_SETTINGS:
        assert controller[name] == aggregator[name] and "var.timeout_seconds" in controller[name], name
    for module in ("aggregator", "breaker_controller"):
        assert resources(module)[("aws_lambda_function", "this")]["timeout"] == "${var.timeout_seconds}"
    # The probe checks the landing bucket too, and pauses the one mapping.
    assert _as_deployed("breaker_controller", controller["COURIER_LANDING_BUCKET"]) == "${var.landing_bucket_name}"
    assert _pipeline_module("landing_bucket")["name"] == "${var.landing_bucket_name}"
    assert _as_deployed("breaker_controller", controller["COURIER_ESM_UUID"]) == "${module.aggregator.event_source_mapping_uuid}"
    # ... and every name is one the code reads.
    known = {PREFIX + f.upper() for cls in (Settings, ControllerSettings) for f in cls.__dataclass_fields__}
    assert {n for n in controller if n.startswith(PREFIX)} <= known
    assert {"COURIER_LANDING_BUCKET", "COURIER_FUNCTION_TIMEOUT_SECONDS", "COURIER_ESM_UUID"} <= set(controller)


def test_a_failed_or_delayed_scheduled_run_is_not_retried_the_next_minute_is():
    config = resources("breaker_controller")[("aws_lambda_function_event_invoke_config", "this")]
    assert config["function_name"] == "${aws_lambda_function.this.function_name}"
    assert config["maximum_retry_attempts"] == 0  # Lambda's default for async invocations is 2
    assert config["maximum_event_age_in_seconds"] == 60  # the schedule's period; the default is 6 hours


def test_the_reservations_are_a_setting_for_accounts_whose_quota_cannot_take_them():
    # 20 + 1 per environment; AWS keeps 100 unreserved, so a new account (quota 10) refuses them.
    assert default("pipeline", "reserve_concurrency") is True
    assert _pipeline_module("aggregator")["reserved_concurrency"] == "${var.reserve_concurrency ? 20 : null}"
    assert _pipeline_module("breaker_controller")["reserved_concurrency"] == "${var.reserve_concurrency ? 1 : null}"
    for module in FUNCTION_MODULES:
        function = resources(module)[("aws_lambda_function", "this")]
        # null: the provider's -1, no reservation (0 would stop the function).
        expected = "${var.reserved_concurrency == null ? -1 : var.reserved_concurrency}"
        assert function["reserved_concurrent_executions"] == expected, module
    (precondition,) = resources("aggregator")[("aws_lambda_function", "this")]["lifecycle"][0]["precondition"]
    assert precondition["condition"].startswith("${var.reserved_concurrency == null ||")
    assert "reserve_concurrency     = var.settings.reserve_concurrency" in (ENVS / "_shared" / "main.tf").read_text()
    readme = (MODULES.parent / "README.md").read_text()
    assert all(t in readme for t in ("get-account-settings", "UnreservedConcurrentExecutions", "reserve_concurrency = false"))


def _controller_timeouts() -> list[int]:
    condition = variables("breaker_controller")["timeout_seconds"]["validation"][0]["condition"]
    low, high = (int(n) for n in re.findall(r"(\d+)", condition))
    return sorted({low, default("breaker_controller", "timeout_seconds"), high})


def test_controller_timeout_fits_a_probe_and_the_schedule():
    from courier import budget
    from courier.config import ControllerSettings, Settings

    assert default("breaker_controller", "timeout_seconds") == 60
    assert default("breaker_controller", "schedule_expression") == "rate(1 minute)"
    period = 60
    lease = _environment("breaker_controller")["COURIER_CLAIM_LEASE_SECONDS"]
    lease_extra = int(re.search(r"var\.timeout_seconds\s*\+\s*(\d+)", lease).group(1))
    for timeout in _controller_timeouts():
        assert timeout <= period  # a run never outlasts the schedule (reserved concurrency 1)
        env = {
            "COURIER_ARCHIVE_BUCKET": "a",
            "COURIER_LANDING_BUCKET": "l",
            "COURIER_NIFI_URL": "https://nifi/x",
            "COURIER_NIFI_CA_BUNDLE": "",
            "COURIER_FUNCTION_TIMEOUT_SECONDS": str(timeout),
            "COURIER_CLAIM_LEASE_SECONDS": str(timeout + lease_extra),
            "COURIER_ESM_UUID": "u",
        }
        settings = Settings.from_env(env)  # raises if the probe's POST budget does not fit the timeout
        ControllerSettings.from_env(env)
        post = budget.post_budget_seconds(settings.connect_timeout_seconds, settings.read_timeout_seconds)
        assert post <= budget.max_post_budget_seconds(timeout)


def test_controller_may_read_what_it_probes_and_delete_only_landing_versions_it_sweeps():
    sids = by_sid("breaker_controller")
    assert sids["ProbeNiFiCredentials"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert sids["ProbeNiFiCredentials"]["resources"] == ["${var.secret_arn}"]
    assert sids["ProbeLedgerWrite"]["actions"] == ["dynamodb:PutItem"]  # a conditional write, as a claim is
    assert sids["ProbeLedgerWrite"]["resources"] == ["${var.idempotency_table_arn}"]
    # ... of its probe item only: no file's ledger entry.
    from courier.adapters.probe import PROBE_LEDGER_KEY

    leading = {"test": "ForAllValues:StringEquals", "variable": "dynamodb:LeadingKeys", "values": [PROBE_LEDGER_KEY]}
    assert sids["ProbeLedgerWrite"]["condition"] == [leading]
    assert sids["ProbeArchiveWrite"]["actions"] == ["s3:PutObject"]  # the canary, archived as a bundle would be
    assert sids["ProbeArchiveWrite"]["resources"] == ["${var.archive_bucket_arn}/probes/*"]
    assert sids["ProbeBuckets"]["actions"] == ["s3:ListBucket"]  # HeadBucket; no object is read
    assert set(sids["ProbeBuckets"]["resources"]) == {"${var.landing_bucket_arn}", "${var.archive_bucket_arn}"}
    breaker = sids["CircuitBreakerAndParkedMessages"]
    assert breaker["resources"] == ["${var.breaker_table_arn}"]
    assert set(breaker["actions"]) == {
        "dynamodb:BatchGetItem",  # the consistent read of `nifi` and `cause#nifi`
        "dynamodb:GetItem",  # Powertools' breaker around the probe ...
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",  # ... writing its transitions
        "dynamodb:Scan",  # the parked-message records
        "dynamodb:DeleteItem",  # a released message's record, conditional on its receipt handle
    }
    # Nothing else on the ledger, the secret or the buckets; on objects, the canary and the sweep only.
    by_resource: dict[str, set[str]] = {}
    for statement in allow_statements("breaker_controller"):
        for resource in statement["resources"]:
            by_resource.setdefault(resource, set()).update(statement["actions"])
    assert by_resource["${var.idempotency_table_arn}"] == {"dynamodb:PutItem"}
    assert by_resource["${var.secret_arn}"] == {"secretsmanager:GetSecretValue"}
    assert by_resource["${var.landing_bucket_arn}"] == by_resource["${var.archive_bucket_arn}"] == {"s3:ListBucket"}
    assert {r: by_resource[r] for r in by_resource if "/*" in r and "bucket" in r} == {
        "${var.archive_bucket_arn}/probes/*": {"s3:PutObject"},
        "${var.archive_bucket_arn}/index/*": {"s3:GetObject"},  # the sweep reads index lines, no bundle
        "${var.archive_bucket_arn}/bundles/*": {"s3:GetObjectTagging"},  # ... and whether a bundle was delivered
        # ... and deletes exact versions only: never a key's current object, never a delete marker's worth of data.
        "${var.landing_bucket_arn}/*": {"s3:DeleteObjectVersion"},
    }
    # The pipeline hands it the same secret, ledger and buckets as the aggregator.
    controller, aggregator = _pipeline_module("breaker_controller"), _pipeline_module("aggregator")
    for name in ("secret_arn", "idempotency_table_arn", "breaker_table_arn", "landing_bucket_arn", "archive_bucket_arn"):
        assert controller[name] == aggregator[name], name


def test_controller_runs_in_the_aggregators_subnets_with_its_egress():
    controller, aggregator = resources("breaker_controller"), resources("aggregator")
    vpc = controller[("aws_lambda_function", "this")]["vpc_config"][0]
    assert vpc == {"subnet_ids": "${var.subnet_ids}", "security_group_ids": ["${aws_security_group.this.id}"]}
    group = controller[("aws_security_group", "this")]
    assert "ingress" not in group

    def rules(module_resources):
        return [
            {k: v for k, v in rule.items() if k != "description"}
            for rule in module_resources[("aws_security_group", "this")]["egress"]
        ]

    assert rules(controller) == rules(aggregator)  # NiFi's port to nifi_cidr, 443 to the endpoints, nothing else
    wired, agg = _pipeline_module("breaker_controller"), _pipeline_module("aggregator")
    for name in (
        "vpc_id",
        "subnet_ids",
        "nifi_cidr",
        "nifi_port",
        "s3_prefix_list_id",
        "dynamodb_prefix_list_id",
        "endpoint_security_group_ids",
    ):
        assert wired[name] == agg[name], name
    # ENIs as the aggregator gets them; and the Lambda API (the mapping) is reachable without a NAT.
    assert policy("breaker_controller", "vpc") == policy("aggregator", "vpc")
    assert locals_("breaker_controller")["subnet_arns"] == locals_("aggregator")["subnet_arns"]
    endpoint = resources("network_endpoints")[("aws_vpc_endpoint", "lambda")]
    assert endpoint["service_name"].endswith(".lambda") and endpoint["vpc_endpoint_type"] == "Interface"
    assert endpoint["security_group_ids"] == ["${aws_security_group.endpoints.id}"]


@pytest.mark.parametrize(("service", "resource"), [("s3", "this"), ("dynamodb", "dynamodb")])
def test_each_gateway_endpoint_is_created_or_the_vpcs_own_is_used(service, resource):
    switch = f"create_{service}_gateway_endpoint"
    endpoint = resources("network_endpoints")[("aws_vpc_endpoint", resource)]
    assert endpoint["count"] == f"${{var.{switch} ? 1 : 0}}" and endpoint["vpc_endpoint_type"] == "Gateway"
    existing = data_sources("network_endpoints")[("aws_vpc_endpoint", service)]
    assert existing["count"] == f"${{var.{switch} ? 0 : 1}}"
    assert existing["filter"][0] == {"name": "vpc-endpoint-type", "values": ["Gateway"]}
    check, _another_environments = existing["lifecycle"][0]["postcondition"]
    assert check["condition"] == "${length(setsubtract(var.private_route_table_ids, self.route_table_ids)) == 0}"
    # Defaulting to create, and settable from each environment.
    assert default("network_endpoints", switch) is True and default("pipeline", switch) is True
    assert _pipeline_module("network_endpoints")[switch] == f"${{var.{switch}}}"
    assert re.search(rf"\b{switch}\s+= optional\(bool, true\)", (ENVS / "_shared" / "variables.tf").read_text())
    assert f"var.settings.{switch}" in (ENVS / "_shared" / "main.tf").read_text()
    # The functions' egress uses the service's prefix list, the same for either endpoint.
    (output,) = [
        b[f"{service}_prefix_list_id"]
        for b in load("network_endpoints", "outputs.tf")["output"]
        if f"{service}_prefix_list_id" in b
    ]
    assert output["value"] == f"${{data.aws_prefix_list.{service}.id}}"
    assert data_sources("network_endpoints")[("aws_prefix_list", service)]["name"] == f"com.amazonaws.${{var.region}}.{service}"


@pytest.mark.parametrize("service", ["secretsmanager", "sqs", "lambda"])
def test_each_interface_endpoint_is_created_or_the_vpcs_own_is_used(service):
    # A VPC takes one interface endpoint with private DNS per service: a shared VPC that has one
    # already makes courier's fail to create.
    switch = f"create_{service}_interface_endpoint"
    endpoint = resources("network_endpoints")[("aws_vpc_endpoint", service)]
    assert endpoint["count"] == f"${{var.{switch} ? 1 : 0}}" and endpoint["vpc_endpoint_type"] == "Interface"
    assert endpoint["private_dns_enabled"] is True
    existing = data_sources("network_endpoints")[("aws_vpc_endpoint", service)]
    assert existing["count"] == f"${{var.{switch} ? 0 : 1}}"
    assert existing["service_name"] == f"com.amazonaws.${{var.region}}.{service}"
    assert existing["filter"][0] == {"name": "vpc-endpoint-type", "values": ["Interface"]}
    check, _another_environments = existing["lifecycle"][0]["postcondition"]
    assert check["condition"] == "${self.private_dns_enabled}"  # else the functions' calls never reach it
    # Defaulting to create, and settable from each environment.
    assert default("network_endpoints", switch) is True and default("pipeline", switch) is True
    assert _pipeline_module("network_endpoints")[switch] == f"${{var.{switch}}}"
    assert re.search(rf"\b{switch}\s+= optional\(bool, true\)", (ENVS / "_shared" / "variables.tf").read_text())
    assert f"var.settings.{switch}" in (ENVS / "_shared" / "main.tf").read_text()
    # The functions may send HTTPS to the existing endpoint's security groups as to courier's own.
    groups = locals_("network_endpoints")["interface_endpoint_security_group_ids"]
    assert f"data.aws_vpc_endpoint.{service}" in groups and "aws_security_group.endpoints.id" in groups
    outputs = {k: v for b in load("network_endpoints", "outputs.tf")["output"] for k, v in b.items()}
    assert outputs["endpoint_security_group_ids"]["value"] == "${local.interface_endpoint_security_group_ids}"
    for module in ("aggregator", "breaker_controller"):
        (rule,) = [r for r in resources(module)[("aws_security_group", "this")]["egress"] if "security_groups" in r]
        assert rule["security_groups"] == "${var.endpoint_security_group_ids}"
        assert (
            _pipeline_module(module)["endpoint_security_group_ids"] == "${module.network_endpoints.endpoint_security_group_ids}"
        )
    # Its owner gets the policy to merge into the existing endpoint's, from the module, the pipeline and the env.
    assert f"data.aws_iam_policy_document.{service}.json" in str(outputs["interface_endpoint_policy_json"]["value"])
    pipeline_outputs = {k: v for b in load("pipeline", "outputs.tf")["output"] for k, v in b.items()}
    assert (
        pipeline_outputs["interface_endpoint_policies"]["value"] == "${module.network_endpoints.interface_endpoint_policy_json}"
    )
    env_outputs = {k: v for b in load_file(ENVS / "_shared" / "outputs.tf")["output"] for k, v in b.items()}
    assert "module.courier.interface_endpoint_policies" in env_outputs["endpoint_policies"]["value"]
    readme = (MODULES / "network_endpoints" / "README.md").read_text()
    assert switch in readme and "interface_endpoint_policy_json" in readme


def test_each_environment_has_its_own_vpc_and_never_uses_anothers_endpoints():
    # Both environments' endpoints in one VPC cannot work: the second apply fails on the routes and
    # private DNS, or (create_*=false) its calls meet policies naming the other environment's ARNs.
    vpc = data_sources("network_endpoints")[("aws_vpc", "this")]
    (tagged,) = vpc["lifecycle"][0]["postcondition"]
    assert 'lookup(self.tags, "courier-environment", "") == var.environment' in tagged["condition"]
    assert tagged["condition"].startswith("${!local.creates_an_endpoint ||")
    creates = locals_("network_endpoints")["creates_an_endpoint"]
    flags = [v for v in variables("network_endpoints") if v.startswith("create_")]
    assert len(flags) == 5 and all(f"var.{flag}" in creates for flag in flags)
    for service in ("s3", "dynamodb", "secretsmanager", "sqs", "lambda"):
        checks = data_sources("network_endpoints")[("aws_vpc_endpoint", service)]["lifecycle"][0]["postcondition"]
        assert any('lookup(self.tags, "environment", "") == var.environment' in c["condition"] for c in checks), service
    assert _pipeline_module("network_endpoints")["environment"] == "${var.environment}"
    # The examples put staging and prod in two VPCs, with two CIDRs and their own route tables.
    examples = {env: hcl2.loads((ENVS / env / "terraform.tfvars.example").read_text())["settings"] for env in ("staging", "prod")}
    for field in ("vpc_id", "vpc_cidr", "private_route_table_ids", "private_subnet_ids"):
        assert examples["staging"][field] != examples["prod"][field], field
    assert "One environment per VPC" in (MODULES.parent / "README.md").read_text()


# Each endpoint: its policy document, the service's action prefix, and the pipeline inputs that
# name courier's resources of that service.
ENDPOINTS = {
    ("aws_vpc_endpoint", "this"): ("s3", "s3:", {"landing_bucket_arn", "archive_bucket_arn"}),
    ("aws_vpc_endpoint", "dynamodb"): ("dynamodb", "dynamodb:", {"table_arns"}),
    ("aws_vpc_endpoint", "secretsmanager"): ("secretsmanager", "secretsmanager:", {"secret_arn"}),
    ("aws_vpc_endpoint", "sqs"): ("sqs", "sqs:", {"queue_arn", "dlq_arn"}),
    ("aws_vpc_endpoint", "lambda"): ("lambda", "lambda:", {"event_source_mapping_arn"}),
}


def test_every_endpoint_has_a_policy_for_courier_only():
    r = resources("network_endpoints")
    assert {k for k in r if k[0] == "aws_vpc_endpoint"} == set(ENDPOINTS)
    wired = _pipeline_module("network_endpoints")
    for key, (document, prefix, inputs) in ENDPOINTS.items():
        assert r[key]["policy"] == f"${{data.aws_iam_policy_document.{document}.json}}", key
        named: set[str] = set()
        for statement in [s for s in policy("network_endpoints", document) if s["sid"] != "RotationRandomPasswordOnly"]:
            assert statement.get("effect", "Allow") == "Allow" and all(a.startswith(prefix) for a in statement["actions"])
            assert not any("*" in a for a in statement["actions"])
            # Only courier's resources (the module's inputs), and only for this account's principals.
            named |= set(re.findall(r"var\.(\w+)", _with_locals("network_endpoints", str(statement["resources"]))))
            assert ("StringEquals", "aws:PrincipalAccount") in {(c["test"], c["variable"]) for c in statement["condition"]}
            assert statement["principals"] == [{"type": "AWS", "identifiers": ["*"]}]
        assert named == inputs, (document, named)
        for name in inputs:
            assert "module." in str(wired[name]) or "var." in str(wired[name]), name
    assert wired["table_arns"] == ["${module.state_tables.idempotency_table_arn}", "${module.state_tables.breaker_table_arn}"]
    assert wired["event_source_mapping_arn"] == "${module.aggregator.event_source_mapping_arn}"
    assert wired["secret_arn"] == "${module.secrets.arn}" and wired["queue_arn"] == "${module.queue.queue_arn}"
    assert wired["landing_bucket_arn"] == _pipeline_module("aggregator")["landing_bucket_arn"]
    assert wired["archive_bucket_arn"] == _pipeline_module("aggregator")["archive_bucket_arn"]


def test_endpoint_policies_let_through_everything_the_functions_do():
    """A function's call that its endpoint's policy does not allow fails in AWS as surely as a
    missing role permission: the endpoint policy must cover the union of both roles' actions."""
    allowed = {
        prefix: {a for s in policy("network_endpoints", doc) for a in s["actions"]} for doc, prefix, _ in ENDPOINTS.values()
    }
    for module in FUNCTION_MODULES:
        for statement in policy(module):
            if statement.get("effect", "Allow") != "Allow":
                continue
            for action in statement["actions"]:
                prefix = action.split(":")[0] + ":"
                if prefix in allowed:
                    assert action in allowed[prefix], f"{module} uses {action}, which its endpoint refuses"


def test_the_rotation_function_may_get_a_random_password_through_the_endpoint_and_nobody_else():
    (statement,) = [s for s in policy("network_endpoints", "secretsmanager") if s["sid"] == "RotationRandomPasswordOnly"]
    # GetRandomPassword has no resource type: "*" is the only resource AWS accepts for it.
    assert statement["actions"] == ["secretsmanager:GetRandomPassword"] and statement["resources"] == ["*"]
    assert ("ArnEquals", "aws:PrincipalArn", ["${var.rotation_role_arn}"]) in conditions(statement)
    assert ("StringEquals", "aws:PrincipalAccount", ["${data.aws_caller_identity.current.account_id}"]) in conditions(statement)
    assert _pipeline_module("network_endpoints")["rotation_role_arn"] == "${module.secrets.rotation_role_arn}"
    outputs = {k: v for b in load("secrets", "outputs.tf")["output"] for k, v in b.items()}
    assert outputs["rotation_role_arn"]["value"] == "${data.aws_lambda_function.rotation.role}"
    assert 'AWS accepts only "*" as its resource' in (MODULES / "network_endpoints" / "main.tf").read_text()  # the why


def test_only_the_functions_the_rotation_function_and_named_operators_may_read_the_secret():
    r = resources("secrets")
    secret_policy = r[("aws_secretsmanager_secret_policy", "this")]
    assert secret_policy["policy"] == "${data.aws_iam_policy_document.readers.json}"
    assert secret_policy["block_public_policy"] is True
    (deny,) = policy("secrets", "readers")
    assert deny["effect"] == "Deny" and deny["actions"] == ["secretsmanager:GetSecretValue"]
    assert deny["principals"] == [{"type": "AWS", "identifiers": ["*"]}]
    ((test, key, values),) = conditions(deny)
    assert (test, key) == ("StringNotEquals", "aws:PrincipalArn")
    assert "var.reader_role_arns" in values and "data.aws_lambda_function.rotation.role" in values
    readers = _pipeline_module("secrets")["reader_role_arns"]
    assert "module.aggregator.role_arn" in readers and "module.breaker_controller.role_arn" in readers
    assert "var.secret_reader_role_arns" in readers


@pytest.mark.parametrize(
    ("module", "document", "sid"),
    [
        ("aggregator", "assume", None),
        ("aggregator", "codedeploy_assume", None),
        ("breaker_controller", "assume", None),
        ("monitoring", "alerts_key", "CloudWatchAlarmsEncryptNotifications"),
        ("monitoring", "alerts_key", "BudgetsEncryptNotifications"),
    ],
)
def test_every_service_grant_is_for_this_accounts_own_use_only(module, document, sid):
    # A service principal acts for any account: aws:SourceAccount keeps another account's function,
    # deployment or alarm from using this account's role or key (the confused deputy).
    (statement,) = [s for s in policy(module, document) if sid is None or s.get("sid") == sid]
    assert statement["principals"][0]["type"] == "Service"
    account = "${data.aws_caller_identity.current.account_id}"
    assert ("StringEquals", "aws:SourceAccount", [account]) in conditions(statement)


def test_no_service_principal_in_any_module_is_granted_anything_for_any_account():
    for module in MODULE_NAMES:
        for rtype, name in data_sources(module):
            if rtype != "aws_iam_policy_document":
                continue
            for statement in policy(module, name):
                if statement.get("effect", "Allow") != "Allow":
                    continue
                if any(p["type"] == "Service" for p in statement.get("principals", [])):
                    keys = {key for _, key, _ in conditions(statement)}
                    assert keys & {"aws:SourceAccount", "aws:SourceArn"}, f"{module} {name} {statement.get('sid')}"


def test_handlers_named_in_terraform_exist():
    import importlib

    named = [resources(module)[("aws_lambda_function", "this")]["handler"] for module in ("aggregator", "breaker_controller")]
    assert named == ["courier.handler.lambda_handler", "courier.handler.controller_handler"]
    for name in named:
        module, function = name.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), function))


# --- secrets and monitoring -------------------------------------------------------------------


def test_an_environment_applied_before_the_rotation_setting_keeps_its_schedule():
    # The schedule had no count before: without a moved block Terraform would cancel it and create
    # it again as this[0] (Secrets Manager tests the rotation function once more). Real Terraform
    # plans this move as "has moved", 0 to add or destroy (checked with terraform_data).
    (moved,) = load("secrets")["moved"]
    assert moved == {
        "from": "${aws_secretsmanager_secret_rotation.this}",
        "to": "${aws_secretsmanager_secret_rotation.this[0]}",
    }


def test_secret_rotates_on_a_schedule():
    rotation = resources("secrets")[("aws_secretsmanager_secret_rotation", "this")]
    assert rotation["rotation_lambda_arn"] == "${var.rotation_lambda_arn}"
    assert rotation["rotation_rules"][0]["automatically_after_days"] == "${var.rotation_days}"


def test_apply_does_not_rotate_a_secret_that_has_no_value_yet():
    rotation = resources("secrets")[("aws_secretsmanager_secret_rotation", "this")]
    assert rotation["rotate_immediately"] is False  # the provider's default is true
    # Enabling rotation tests the function against the secret at once: not before its first value.
    assert rotation["count"] == "${var.rotation_enabled ? 1 : 0}" and default("secrets", "rotation_enabled") is False
    assert _pipeline_module("secrets")["rotation_enabled"] == "${var.secret_rotation_enabled}"
    assert default("pipeline", "secret_rotation_enabled") is False
    shared = (ENVS / "_shared" / "main.tf").read_text()
    assert "secret_rotation_enabled = var.settings.secret_rotation_enabled" in shared
    runbook = (MODULES.parents[2] / "docs" / "runbooks" / "rotate-nifi-secret.md").read_text()
    assert "## First value" in runbook and "secret_rotation_enabled = true" in runbook
    assert "aws_secretsmanager_secret_version" not in {t for t, _ in resources("secrets")}  # no value in the state
    readme = (MODULES.parent / "README.md").read_text()
    assert "secretsmanager.amazonaws.com" in readme and "lambda:InvokeFunction" in readme  # the invoke permission


def test_alarms_cover_backlog_expiry_dlq_errors_breaker_slo_and_auth():
    r = resources("monitoring")
    alarms = {name: body for (rtype, name), body in r.items() if rtype == "aws_cloudwatch_metric_alarm"}
    assert (
        alarms["backlog"]["metric_name"] == "ApproximateAgeOfOldestMessage"
        and default("monitoring", "backlog_age_seconds") == 3600
    )
    assert "var.queue_retention_seconds * var.data_expiry_fraction" in alarms["data_expiring"]["threshold"]
    assert alarms["dlq"]["dimensions"] == {"QueueName": "${var.dlq_name}"}
    assert alarms["latency_p95"]["extended_statistic"] == "p95" and default("monitoring", "latency_p95_seconds") == 120
    assert alarms["latency_p999"]["extended_statistic"] == "p99.9" and default("monitoring", "latency_p999_seconds") == 180
    assert "nifi_auth" in str(alarms["auth_failures"]["dimensions"])
    assert {"function_errors", "throttles", "breaker_open", "corruption", "traffic_anomaly"} <= set(alarms)
    assert "ANOMALY_DETECTION_BAND" in str(alarms["traffic_anomaly"]["metric_query"])
    assert "NumberOfMessagesSent" in str(alarms["traffic_anomaly"]["metric_query"])
    assert ("aws_cloudwatch_composite_alarm", "this") in r and ("aws_budgets_budget", "this") in r
    assert ("aws_cloudwatch_dashboard", "this") in r


def test_alarms_and_budgets_can_publish_to_the_encrypted_topic():
    r = resources("monitoring")
    # A customer-managed key: alias/aws/sns cannot let CloudWatch or Budgets encrypt a message.
    assert r[("aws_sns_topic", "this")]["kms_master_key_id"] == "${aws_kms_key.alerts.arn}"
    key = r[("aws_kms_key", "alerts")]
    assert key["enable_key_rotation"] is True and key["policy"] == "${data.aws_iam_policy_document.alerts_key.json}"
    key_policy = by_sid("monitoring", "alerts_key")
    for sid, service in (("CloudWatchAlarmsEncryptNotifications", "cloudwatch"), ("BudgetsEncryptNotifications", "budgets")):
        statement = key_policy[sid]
        assert statement["principals"][0] == {"type": "Service", "identifiers": [f"{service}.amazonaws.com"]}
        assert set(statement["actions"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert "root" in key_policy["AccountAdministersTheKey"]["principals"][0]["identifiers"][0]  # the key stays manageable
    # The topic policy lets both services of this account publish; the budget waits for it.
    topic = by_sid("monitoring", "topic")
    assert r[("aws_sns_topic_policy", "this")]["policy"] == "${data.aws_iam_policy_document.topic.json}"
    for sid, service in (("CloudWatchAlarmsPublish", "cloudwatch"), ("BudgetsPublish", "budgets")):
        statement = topic[sid]
        assert statement["actions"] == ["sns:Publish"] and statement["resources"] == ["${aws_sns_topic.this.arn}"]
        assert statement["principals"][0]["identifiers"] == [f"{service}.amazonaws.com"]
        assert ("StringEquals", "aws:SourceAccount") in {(c["test"], c["variable"]) for c in statement["condition"]}
    assert "${aws_sns_topic_policy.this}" in r[("aws_budgets_budget", "this")]["depends_on"]
    # Every alarm, the composite and the budget notify that topic and no other.
    for (rtype, name), body in r.items():
        for actions in ("alarm_actions", "ok_actions"):
            if actions in body:
                assert body[actions] == "${local.alarm_topic}", f"{rtype}.{name}"
    assert locals_("monitoring")["alarm_topic"] == ["${aws_sns_topic.this.arn}"]
    for notification in r[("aws_budgets_budget", "this")]["notification"]:
        assert notification["subscriber_sns_topic_arns"] == ["${aws_sns_topic.this.arn}"]


# The design's section 7 (GBP per month at 10 files/s) for what carries the application tag, plus
# the interface endpoints this Terraform adds (infra/terraform/README.md's cost table).
DESIGN_TAGGED_GBP = {"s3_landing": 120, "s3_archive": 1, "sqs": 8, "lambda": 3, "dynamodb": 5, "cloudwatch": 12}
INTERFACE_ENDPOINTS_GBP = 42


def test_the_budget_sees_courier_costs_and_follows_the_design_in_gbp():
    r = resources("monitoring")
    budget = r[("aws_budgets_budget", "this")]
    # Only what carries application = courier, and that tag is activated for cost allocation.
    tag_filter = '${format("user:%s$%s", var.cost_tag_key, var.cost_tag_value)}'
    assert budget["cost_filter"][0] == {"name": "TagKeyValue", "values": [tag_filter]}
    tag = r[("aws_ce_cost_allocation_tag", "application")]
    assert (tag["tag_key"], tag["status"]) == ("${var.cost_tag_key}", "Active")
    assert tag["count"] == "${var.manage_cost_allocation_tag ? 1 : 0}"
    assert default("monitoring", "manage_cost_allocation_tag") is default("pipeline", "manage_cost_allocation_tag") is False
    assert "${aws_ce_cost_allocation_tag.application}" in budget["depends_on"]
    wired = _pipeline_module("monitoring")
    assert (wired["cost_tag_key"], wired["cost_tag_value"]) == ("application", "${local.application}")
    assert locals_("pipeline")["application"] == "courier" and "application = local.application" in locals_("pipeline")["tags"]
    # Amounts are GBP, converted into the unit Budgets accepts.
    assert budget["limit_amount"] == "${tostring(ceil(var.monthly_budget_amount * var.gbp_exchange_rate))}"
    assert budget["limit_unit"] == "${var.budget_currency}" and default("monitoring", "budget_currency") == "USD"
    assert "GBP" in variables("monitoring")["monthly_budget_amount"]["description"]
    # The thresholds: the 80% actual alert stays quiet at the design's expected prod cost, and fires above it.
    expected = sum(DESIGN_TAGGED_GBP.values()) + INTERFACE_ENDPOINTS_GBP
    actual, forecast = sorted(n["threshold"] for n in budget["notification"])
    assert (actual, forecast) == (80, 100)
    prod = ENV_VALUES["prod"]["monthly_budget_amount"]
    assert expected <= prod * actual / 100 <= 1.1 * expected
    assert ENV_VALUES["staging"]["monthly_budget_amount"] < prod
    assert default("monitoring", "monthly_budget_amount") == default("pipeline", "monthly_budget_amount") == prod


def test_a_backlog_of_an_hours_worth_of_files_alarms():
    """NFR-04: "Alerts will trigger if the backlog exceeds 1 hour's worth of data" - by count too, not only by age."""
    alarm = resources("monitoring")[("aws_cloudwatch_metric_alarm", "backlog_depth")]
    queries = {q["id"]: q for q in alarm["metric_query"]}
    assert queries["backlog"]["expression"] == "visible + in_flight" and queries["backlog"]["return_data"] is True
    metrics = {i: queries[i]["metric"][0] for i in ("visible", "in_flight")}
    assert metrics["visible"]["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert metrics["in_flight"]["metric_name"] == "ApproximateNumberOfMessagesNotVisible"  # parked messages are in flight
    assert all(m["dimensions"] == {"QueueName": "${var.queue_name}"} and m["namespace"] == "AWS/SQS" for m in metrics.values())
    assert (alarm["threshold"], alarm["comparison_operator"]) == ("${var.expected_files_per_hour}", "GreaterThanThreshold")
    design_files_per_second = 10  # section 1: ~864,000 objects per day
    assert default("monitoring", "expected_files_per_hour") == default("pipeline", "expected_files_per_hour")
    assert default("pipeline", "expected_files_per_hour") == design_files_per_second * 3600 == 864_000 // 24
    assert _pipeline_module("monitoring")["expected_files_per_hour"] == "${var.expected_files_per_hour}"
    assert alarm["alarm_actions"] == "${local.alarm_topic}" and "runbooks/backlog" in alarm["alarm_description"]
    assert "backlog_depth" in resources("monitoring")[("aws_cloudwatch_composite_alarm", "this")]["alarm_rule"]
    # Far above what normal processing keeps in flight: every concurrent batch full at once.
    assert default("aggregator", "maximum_concurrency") * default("aggregator", "batch_size") < default(
        "pipeline", "expected_files_per_hour"
    )


def test_breaker_alarm_needs_the_circuit_open_in_3_of_5_minutes_or_the_controller_silent():
    alarm = resources("monitoring")[("aws_cloudwatch_metric_alarm", "breaker_open")]
    assert (alarm["namespace"], alarm["metric_name"]) == ("${local.namespace}", "BreakerState")
    assert locals_("monitoring")["namespace"] == "Courier"
    assert alarm["dimensions"] == '${merge(local.service_dims, {circuit = "nifi"})}'
    assert locals_("monitoring")["service_dims"] == {"service": "${var.name}"}
    assert (alarm["statistic"], alarm["period"]) == ("Maximum", 60)
    assert (alarm["threshold"], alarm["comparison_operator"]) == (2, "GreaterThanOrEqualToThreshold")  # 2 is OPEN
    assert (alarm["datapoints_to_alarm"], alarm["evaluation_periods"]) == (3, 5)
    # The controller publishes every minute whatever the state: no data means it is not running.
    assert alarm["treat_missing_data"] == "breaching"
    from courier.controller import STATE_VALUE
    from courier.ports import BreakerState

    assert STATE_VALUE[BreakerState.OPEN] == alarm["threshold"] and max(STATE_VALUE.values()) == alarm["threshold"]
    # The CodeDeploy canary and the composite alarm still use it, by its name.
    assert alarm["alarm_name"] == "${var.name}-breaker-open" and _pipeline_module("monitoring")["name"] == "${local.name}"
    assert "${local.name}-breaker-open" in _pipeline_module("aggregator")["rollback_alarm_names"]


def test_alarm_metrics_are_ones_the_code_emits():
    from pathlib import Path

    source = "".join(p.read_text() for p in (Path(__file__).parents[2] / "src" / "courier").rglob("*.py"))
    monitoring = (MODULES / "monitoring" / "main.tf").read_text()
    for metric in set(re.findall(r'metric_name\s*=\s*"([A-Za-z]+)"', monitoring)):
        if metric in {
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
            "Errors",
            "Throttles",
            "NumberOfMessagesSent",
            "WriteThrottleEvents",  # AWS/DynamoDB's
        }:
            continue
        assert f'"{metric}"' in source, f"alarm on {metric}, which the code never emits"


# --- drift between the local stack and the Terraform defaults -------------------------------------


# The local stack's name prefix: the pipeline's names with `courier` where an environment has
# courier-<environment> (modules/pipeline: name = coalesce(var.name, "courier-${var.environment}")).
LOCAL_STACK_PREFIX = "courier"


def test_local_stack_uses_the_terraform_names_and_settings():
    pipeline = load("pipeline")
    text = (MODULES / "pipeline" / "main.tf").read_text()
    name = LOCAL_STACK_PREFIX
    names = {
        "queue": f"{name}-queue",
        "dlq": f"{name}-dlq",
        "idempotency": f"{name}-idempotency",
        "breaker": f"{name}-breaker",
        "secret": f"{name}/nifi",
    }
    assert '"${local.name}-queue"' in text and '"${local.name}-dlq"' in text and '"${local.name}/nifi"' in text
    assert (names["queue"], names["dlq"]) == (provision.QUEUE, provision.DLQ)
    assert (names["idempotency"], names["breaker"]) == (provision.IDEMPOTENCY_TABLE, provision.BREAKER_TABLE)
    assert names["secret"] == provision.SECRET_ID
    assert default("state_tables", "idempotency_table_name") == provision.IDEMPOTENCY_TABLE
    assert default("state_tables", "breaker_table_name") == provision.BREAKER_TABLE
    assert default("secrets", "name") == provision.SECRET_ID
    assert pipeline["module"]  # parsed


# --- staging and prod can share an account: every name carries the environment --------------------

# Resources whose name must be unique in an account and region (or in a shared VPC), and the argument
# that names them.
ACCOUNT_SCOPED_NAMES = {
    "aws_iam_role": "name",
    "aws_sqs_queue": "name",
    "aws_dynamodb_table": "name",
    "aws_secretsmanager_secret": "name",
    "aws_lambda_function": "function_name",
    "aws_cloudwatch_log_group": "name",
    "aws_codedeploy_app": "name",
    "aws_sns_topic": "name",
    "aws_kms_alias": "name",
    "aws_cloudwatch_dashboard": "dashboard_name",
    "aws_cloudwatch_event_rule": "name",
    "aws_cloudwatch_metric_alarm": "alarm_name",
    "aws_cloudwatch_composite_alarm": "alarm_name",
    "aws_budgets_budget": "name",
    "aws_security_group": "name",
    "aws_s3_bucket": "bucket",
}


def _with_locals(module: str, expression: str) -> str:
    known = locals_(module)
    return re.sub(r"local\.(\w+)", lambda m: str(known.get(m.group(1), m.group(0))), expression)


def test_the_name_prefix_is_courier_and_the_environment():
    assert variables("pipeline")["name"]["default"] is None
    assert locals_("pipeline")["name"] == '${coalesce(var.name, "courier-${var.environment}")}'
    shared = next(iter(hcl2.load(open(ENVS / "_shared" / "main.tf", encoding="utf-8"))["module"][0].values()))
    assert "name" not in shared and shared["environment"] == "${local.environment}"  # derived, per environment
    assert {env: f"courier-{env}" for env in ENV_VALUES} == {"staging": "courier-staging", "prod": "courier-prod"}


@pytest.mark.parametrize("module", [m for m in MODULE_NAMES if m != "pipeline"])
def test_every_account_scoped_name_comes_from_an_input_the_pipeline_prefixes(module):
    call = _pipeline_module(module) if module != "s3_tls_policy" else {}
    for (rtype, name), body in resources(module).items():
        if rtype not in ACCOUNT_SCOPED_NAMES:
            continue
        expression = _with_locals(module, str(body[ACCOUNT_SCOPED_NAMES[rtype]]))
        inputs = set(re.findall(r"var\.(\w+)", expression))
        assert inputs, f"{module}: {rtype}.{name} has a fixed name: {expression}"
        for variable in inputs:
            passed = str(call.get(variable, f"default {variables(module)[variable].get('default')}"))
            assert "local.name" in passed or re.fullmatch(r"\$\{var\.(landing|archive)_bucket_name\}", passed), (
                f"{module}: {rtype}.{name} is named by var.{variable} = {passed}, which does not carry the environment"
            )


def test_operators_get_the_settings_that_find_an_environments_resources():
    from courier.config import PREFIX, ControllerSettings, Settings

    (output,) = [b["operator_environment"] for b in load("pipeline", "outputs.tf")["output"] if "operator_environment" in b]
    keys = set(output["value"])
    known = {PREFIX + f.upper() for cls in (Settings, ControllerSettings) for f in cls.__dataclass_fields__}
    assert "COURIER_NAME" in keys and keys - {"COURIER_NAME"} <= known
    assert {"COURIER_IDEMPOTENCY_TABLE", "COURIER_BREAKER_TABLE", "COURIER_NIFI_SECRET_ID", "COURIER_ARCHIVE_BUCKET"} <= keys
    assert "COURIER_NAME" in (MODULES.parents[2] / "docs" / "runbooks" / "README.md").read_text()


def test_both_bucket_names_must_carry_the_environment():
    (identity,) = [b for (t, n), b in data_sources("pipeline").items() if (t, n) == ("aws_caller_identity", "current")]
    (check,) = identity["lifecycle"][0]["precondition"]
    assert "var.landing_bucket_name" in check["condition"] and "var.archive_bucket_name" in check["condition"]
    part = re.search(r'regex\("(.*?)", bucket\)', check["condition"]).group(1).replace("${var.environment}", "{env}")
    for env in ENV_VALUES:
        pattern = part.replace("{env}", env)
        assert re.search(pattern, f"example-courier-landing-{env}") and re.search(pattern, f"{env}.archive.example")
        assert not re.search(pattern, "example-courier-landing") and not re.search(pattern, f"example-non{env}-x")
    for env in ENV_VALUES:
        example = (ENVS / env / "terraform.tfvars.example").read_text()
        assert f'-{env}"' in example


# --- the time budget: the relations between timeouts hold for what the Terraform deploys -----------


def _function_timeouts() -> list[int]:
    condition = variables("aggregator")["timeout_seconds"]["validation"][0]["condition"]
    low, high = (int(n) for n in re.findall(r"(\d+)", condition))
    return sorted({low, default("aggregator", "timeout_seconds"), default("pipeline", "function_timeout_seconds"), high})


def test_every_deployable_function_timeout_keeps_the_time_budget():
    from courier import budget
    from courier.config import Settings

    # python-hcl2 keeps merge({...}, var.extra_environment) as one expression string.
    environment = str(resources("aggregator")[("aws_lambda_function", "this")]["environment"][0]["variables"])
    lease_extra = int(re.search(r"COURIER_CLAIM_LEASE_SECONDS.{0,20}var\.timeout_seconds\s*\+\s*(\d+)", environment).group(1))
    visibility = locals_("queue")["visibility_timeout_seconds"].replace(" ", "")
    assert visibility == "${6*var.function_timeout_seconds+var.batching_window_seconds}"
    window = default("pipeline", "batching_window_seconds")
    for timeout in _function_timeouts():
        settings = Settings.from_env(
            {
                "COURIER_ARCHIVE_BUCKET": "a",
                "COURIER_NIFI_URL": "https://nifi/x",
                "COURIER_FUNCTION_TIMEOUT_SECONDS": str(timeout),
                "COURIER_CLAIM_LEASE_SECONDS": str(timeout + lease_extra),
            }
        )
        assert (
            budget.violated(
                timeout,
                settings.connect_timeout_seconds,
                settings.read_timeout_seconds,
                timeout + lease_extra,
                budget.VISIBILITY_FACTOR * timeout + window,
                window,
            )
            == []
        )


def test_the_function_timeout_reaches_the_code():
    assert "COURIER_FUNCTION_TIMEOUT_SECONDS = tostring(var.timeout_seconds)" in (MODULES / "aggregator" / "main.tf").read_text()


# --- nothing landed is deleted before it was delivered ------------------------------------------


def _terraform_landing_lifecycle() -> dict:
    """The landing module's lifecycle rules with their defaults, in S3's API shape."""
    days = {v: default("landing_bucket", v) for v in ("expiration_days", "noncurrent_expiration_days")}

    def value(expression):
        return days[expression.removeprefix("${var.").removesuffix("}")] if isinstance(expression, str) else expression

    rules = []
    for rule in resources("landing_bucket")[("aws_s3_bucket_lifecycle_configuration", "this")]["rule"]:
        (flt,) = rule["filter"]
        shaped = {
            "ID": rule["id"],
            "Status": rule["status"],
            "Filter": {"Tag": {"Key": flt["tag"][0]["key"], "Value": flt["tag"][0]["value"]}}
            if "tag" in flt
            else {"Prefix": flt["prefix"]},
            "Expiration": {"Days": value(rule["expiration"][0]["days"])},
            "NoncurrentVersionExpiration": {"NoncurrentDays": value(rule["noncurrent_version_expiration"][0]["noncurrent_days"])},
        }
        if "abort_incomplete_multipart_upload" in rule:
            shaped["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"]
            }
        rules.append(shaped)
    return {"Rules": rules}


def test_landing_lifecycle_in_terraform_is_the_one_the_code_and_the_local_stack_use():
    assert _terraform_landing_lifecycle() == provision.landing_lifecycle()


def test_no_lifecycle_rule_deletes_an_undelivered_revision_while_a_message_can_name_it():
    """R13 without a per-file write: the week's expiration only hides a version (the bucket is versioned and the
    aggregator reads by version), and no version is deleted before every message that can name it is gone,
    whether the week or an immediate overwrite made it noncurrent, even with the queue's retention at SQS's maximum."""
    longest_message_days = (provision.SQS_MAX_RETENTION_SECONDS + provision.DLQ_RETENTION_SECONDS) / 86400
    versioning = resources("landing_bucket")[("aws_s3_bucket_versioning", "this")]
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    for rule in provision.landing_lifecycle()["Rules"]:
        assert set(rule["Expiration"]) == {"Days"}  # never a rule that deletes data by the current version's age
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] > longest_message_days
        assert "Tag" not in rule["Filter"]  # no rule waits for a per-file tag
    condition = variables("landing_bucket")["noncurrent_expiration_days"]["validation"][0]["condition"]
    assert int(re.search(r">= (\d+)", condition).group(1)) > longest_message_days


def test_the_aggregator_may_not_write_to_the_landing_bucket():
    """Delivered revisions need no per-file S3 write: the aggregator's role may only read the landing bucket."""
    statements = [s for s in by_sid("aggregator").values() if any("landing_bucket_arn" in r for r in s["resources"])]
    actions = {a for s in statements for a in s["actions"]}
    assert actions and all(a.startswith(("s3:Get", "s3:List")) for a in actions), actions
    ledger = set(by_sid("aggregator")["IdempotencyLedger"]["actions"])
    assert {"dynamodb:UpdateItem", "dynamodb:BatchGetItem"} <= ledger
    assert "dynamodb:Query" not in ledger  # operator-only (courier status / trace)


def test_retention_alarms_read_the_queues_actual_retention():
    monitoring = next(b["monitoring"] for b in load("pipeline")["module"] if "monitoring" in b)
    assert monitoring["queue_retention_seconds"] == "${module.queue.retention_seconds}"
    assert monitoring["dlq_retention_seconds"] == "${module.queue.dlq_retention_seconds}"
    alarm = resources("monitoring")[("aws_cloudwatch_metric_alarm", "dlq_expiring")]
    assert alarm["dimensions"] == {"QueueName": "${var.dlq_name}"}
    expected = "${floor((var.dlq_retention_seconds-var.queue_retention_seconds)*var.data_expiry_fraction)}"
    assert alarm["threshold"].replace(" ", "") == expected
    kept_days = default("landing_bucket", "noncurrent_expiration_days")
    assert default("monitoring", "dlq_retention_seconds") * default("monitoring", "data_expiry_fraction") < kept_days * 86400


# --- an outage runs into the queue's retention before any message reaches the DLQ ----------------


def test_a_message_outlives_an_outage_within_the_retention():
    """During an outage each receive parks a message for the park time (11 h), so it reaches the DLQ
    only after max_receive_count receives. With (max_receive_count - 3) x park above the queue's
    retention (17 x 11 h = 187 h > 96 h), an outage never moves a message to the DLQ: three receives
    are spare for the batches that fail before the breaker trips and for a release that meets the
    outage again. The retention is what ends first, and the data-age alarm (72 h) fires before it.

    The trade-off: a poison message is not parked; it comes back after each visibility timeout
    (6 x 120 s + 20 s = 740 s), so it reaches the DLQ after max_receive_count x 740 s =
    20 x 740 s = 14800 s, about 4 h 7 min, where 5 receives took 3700 s, about 1 h 2 min.

    When DynamoDB itself is down, parks cannot be recorded (nor released early) and back off from
    5 minutes, doubling to 11 h: receives 1-17 then cover about 120 h, still past the retention.
    """
    from courier.adapters.parking import MAX_PARK_SECONDS
    from courier.config import Settings, read_setting

    receives = default("queue", "max_receive_count")
    assert receives == provision.MAX_RECEIVE_COUNT
    park = min(read_setting(Settings, "park_seconds", {}), MAX_PARK_SECONDS)
    assert "COURIER_PARK_SECONDS" not in _environment("aggregator")  # the default is what is deployed
    retention = default("queue", "retention_seconds")
    assert retention == provision.QUEUE_RETENTION_SECONDS == default("monitoring", "queue_retention_seconds")
    expiring = resources("monitoring")[("aws_cloudwatch_metric_alarm", "data_expiring")]["threshold"]
    assert expiring.replace(" ", "") == "${floor(var.queue_retention_seconds*var.data_expiry_fraction)}"
    data_age_alarm = int(retention * default("monitoring", "data_expiry_fraction"))

    survives = (receives - 3) * park
    assert survives > retention, f"a message reaches the DLQ after {survives / 3600:g} h of outage"
    assert data_age_alarm < retention and data_age_alarm < survives

    # ... and a poison message still reaches the DLQ within hours.
    visibility = 6 * default("pipeline", "function_timeout_seconds") + default("pipeline", "batching_window_seconds")
    assert receives * visibility == 14800 <= 5 * 3600
    from courier.adapters.parking import SQSParkingLot

    lot = SQSParkingLot(None, None, "t", park)
    unrecorded = sum(
        lot.unrecorded_park_seconds({"attributes": {"ApproximateReceiveCount": str(r)}}) for r in range(1, receives - 2)
    )
    assert unrecorded > retention, f"with DynamoDB down a message reaches the DLQ after {unrecorded / 3600:g} h"


def test_the_data_age_alarm_also_sees_messages_parked_through_an_outage():
    alarm = resources("monitoring")[("aws_cloudwatch_metric_alarm", "parked_data_expiring")]
    assert alarm["metric_name"] == "OldestParkedMessageAge" and alarm["namespace"] == "${local.namespace}"
    expiring = resources("monitoring")[("aws_cloudwatch_metric_alarm", "data_expiring")]
    assert alarm["threshold"] == expiring["threshold"]


# --- the queue's retention is an environment setting the runbook can name ------------------------


def test_the_queue_retention_is_an_environment_setting_the_queue_and_its_alarms_follow():
    queue = _pipeline_module("queue")
    assert queue["retention_seconds"] == "${var.queue_retention_seconds}"
    assert default("pipeline", "queue_retention_seconds") == provision.QUEUE_RETENTION_SECONDS
    monitoring = _pipeline_module("monitoring")
    assert monitoring["queue_retention_seconds"] == "${module.queue.retention_seconds}"  # what the queue has, not a default
    shared = load_file(ENVS / "_shared" / "main.tf")["module"][0]["courier"]
    assert shared["queue_retention_seconds"] == "${local.queue_retention_seconds}"
    for env in ("staging", "prod"):
        (block,) = load_file(ENVS / env / "env.tf")["locals"]
        assert block["queue_retention_seconds"] == provision.QUEUE_RETENTION_SECONDS


def test_a_raised_retention_stays_consistent_with_the_dlq_the_landing_cap_and_the_ledger():
    r = resources("queue")
    (dlq_check,) = r[("aws_sqs_queue", "dlq")]["lifecycle"][0]["precondition"]
    assert dlq_check["condition"] == "${var.dlq_retention_seconds >= var.retention_seconds}"  # 14 d = 14 d is allowed
    (poison,) = r[("aws_sqs_queue", "this")]["lifecycle"][0]["precondition"]
    assert poison["condition"] == "${var.retention_seconds > var.max_receive_count * local.visibility_timeout_seconds}"
    most = 1209600  # SQS's maximum, the runbook's emergency raise
    assert most <= default("queue", "dlq_retention_seconds")
    # The landing bucket keeps an undelivered file past a message's whole life, queue then DLQ, even at the maximum.
    assert default("landing_bucket", "noncurrent_expiration_days") * 86400 > most + default("queue", "dlq_retention_seconds")
    # A message lives at most the DLQ's retention (it keeps its age there), which the ledger's TTL must outlast.
    # budget.violated checks the ledger's TTL against the DLQ's retention, which bounds any queue retention.
    from courier import budget

    assert default("queue", "dlq_retention_seconds") == provision.DLQ_RETENTION_SECONDS >= most
    assert any("ledger's TTL" in p for p in budget.violated(120, 5, 30, ledger_ttl_seconds=provision.DLQ_RETENTION_SECONDS))


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed (CI has none)")
@pytest.mark.parametrize(("value", "valid"), [(59, False), (60, True), (1209600, True), (1209601, False)])
def test_queue_retention_validation_takes_sqs_range(value, valid, tmp_path):
    accepted, errors = _variable_accepts("pipeline", "queue_retention_seconds", str(value), tmp_path)
    assert accepted is valid, errors


def test_the_runbook_records_a_raised_retention_in_the_setting_terraform_has():
    text = (MODULES.parents[2] / "docs" / "runbooks" / "backlog-and-data-age.md").read_text()
    assert "message_retention_seconds" not in text
    assert "`queue_retention_seconds = 1209600` in\n   `infra/terraform/envs/<env>/env.tf`" in text
    assert "queue_retention_seconds" in variables("pipeline")
    assert "retention_seconds" in variables("queue")


# --- staging and prod in one account: their own metrics, one owner of the account-wide cost tag -------


@pytest.mark.parametrize("module", FUNCTION_MODULES)
def test_each_environments_functions_emit_metrics_under_its_own_name(module):
    # The code's `service` dimension is POWERTOOLS_SERVICE_NAME (courier.observability.SERVICE).
    assert _environment(module)["POWERTOOLS_SERVICE_NAME"] == "var.metrics_service"  # as written in merge({...})
    assert _pipeline_module(module)["metrics_service"] == "${local.name}"  # courier-prod, as monitoring's name
    assert _pipeline_module("monitoring")["name"] == "${local.name}"


def test_every_alarm_and_graph_on_courier_metrics_is_of_its_own_environment():
    monitoring = resources("monitoring")
    assert locals_("monitoring")["service_dims"] == {"service": "${var.name}"}
    own = [
        (key, body)
        for key, body in monitoring.items()
        if key[0] == "aws_cloudwatch_metric_alarm" and body.get("namespace") == "${local.namespace}"
    ]
    assert len(own) >= 5
    for key, body in own:
        assert "local.service_dims" in str(body["dimensions"]), key
    text = (MODULES / "monitoring" / "main.tf").read_text()
    assert '"service", "courier"' not in text and text.count('"service", var.name') == 8  # the dashboard's graphs
    from courier.observability import DEFAULT_SERVICE
    from courier.resources import NAME_PREFIX

    assert DEFAULT_SERVICE == NAME_PREFIX  # the local stack's name, as its metrics' service


def test_only_prod_manages_the_account_wide_cost_allocation_tag():
    # Activation is per account: managed in both states, destroying staging would deactivate prod's tag.
    assert default("monitoring", "manage_cost_allocation_tag") is False
    assert default("pipeline", "manage_cost_allocation_tag") is False
    managed = {}
    for env in ("staging", "prod"):
        (block,) = load_file(ENVS / env / "env.tf")["locals"]
        managed[env] = block["manage_cost_allocation_tag"]
    assert managed == {"staging": False, "prod": True}
    shared = load_file(ENVS / "_shared" / "main.tf")["module"][0]["courier"]
    setting = "var.settings.manage_cost_allocation_tag"
    assert shared["manage_cost_allocation_tag"] == f"${{{setting} != null ? {setting} : local.manage_cost_allocation_tag}}"
    assert re.search(r"\bmanage_cost_allocation_tag = optional\(bool\) ", (ENVS / "_shared" / "variables.tf").read_text())


# --- the landing bucket refuses what courier cannot read (issue 21) ------------------------------


def _terraform_statement_as_json(statement: dict, bucket_arn: str) -> dict:
    """One aws_iam_policy_document statement in IAM's JSON shape (``bucket_arn`` for the bucket's own ARN)."""
    (principals,) = statement["principals"]
    conditions: dict[str, dict[str, list[str]]] = {}
    for c in statement.get("condition", []):
        conditions.setdefault(c["test"], {})[c["variable"]] = c["values"]
    (action,) = statement["actions"]
    (resource,) = statement["resources"]
    return {
        "Sid": statement["sid"],
        "Effect": statement["effect"],
        "Principal": "*" if principals == {"type": "*", "identifiers": ["*"]} else principals,
        "Action": action,
        "Resource": resource.replace("${aws_s3_bucket.this.arn}", bucket_arn),
        "Condition": conditions,
    }


def _as_lists(statement: dict) -> dict:
    """Condition values as lists (IAM takes a single value or a list alike)."""
    cond = {op: {k: v if isinstance(v, list) else [v] for k, v in keys.items()} for op, keys in statement["Condition"].items()}
    return {**statement, "Condition": cond}


def _landing_statements_expanded() -> list[dict]:
    """The landing policy's statements, its dynamic one expanded over local.put_only as Terraform does."""
    document = data_sources("landing_bucket")[("aws_iam_policy_document", "this")]
    (dynamic,) = [d["statement"] for d in document["dynamic"]]
    assert dynamic["for_each"] == "${local.put_only}"
    (template,) = dynamic["content"]
    (inner,) = [d["condition"] for d in template["dynamic"]]
    assert inner["for_each"] == "${length(statement.value.allowed) > 0 ? [statement.value.allowed] : []}"
    (allowed_condition,) = inner["content"]
    expanded = []
    for sid, value in locals_("landing_bucket")["put_only"].items():
        body = {k: v for k, v in template.items() if k != "dynamic"}
        if value["allowed"]:  # the dynamic condition, present when some values are allowed
            body["condition"] = [{**allowed_condition, "values": value["allowed"]}, *body["condition"]]
        text = json.dumps(body).replace("${statement.value.header}", value["header"]).replace("${statement.key}", sid)
        expanded.append(json.loads(text))
    return document.get("statement", []) + expanded


def test_the_landing_bucket_policy_denies_what_courier_cannot_read_as_the_local_stack_does():
    arn = "arn:aws:s3:::courier-landing"
    wanted = sorted((_as_lists(s) for s in provision.landing_put_guard(arn)), key=lambda s: s["Sid"])
    sids = {s["Sid"] for s in wanted}
    declared = [_terraform_statement_as_json(s, arn) for s in _landing_statements_expanded() if s.get("sid") in sids]
    assert sorted(declared, key=lambda s: s["Sid"]) == wanted
    assert sids == {"PutOnlyStandardStorageClass", "NoCustomerProvidedKeys", "OnlyTheBucketsEncryption"}
    # Each denies a header only when it is present: an upload without it gets STANDARD and the bucket's SSE-S3.
    for statement in wanted:
        for keys in statement["Condition"].get("StringNotEquals", {}):
            assert statement["Condition"]["Null"][keys] == ["false"]
    by_sid = {s["Sid"]: s for s in wanted}
    assert by_sid["PutOnlyStandardStorageClass"]["Condition"]["StringNotEquals"]["s3:x-amz-storage-class"] == ["STANDARD"]
    # The only encryption an upload may name is the bucket's own default, so no foreign (or any) KMS key.
    (rule,) = resources("landing_bucket")[("aws_s3_bucket_server_side_encryption_configuration", "this")]["rule"]
    default_sse = rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
    assert by_sid["OnlyTheBucketsEncryption"]["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption"] == [default_sse]


def test_the_landing_bucket_owns_every_object_as_the_local_stack_does():
    (rule,) = resources("landing_bucket")[("aws_s3_bucket_ownership_controls", "this")]["rule"]
    assert rule["object_ownership"] == provision.LANDING_OBJECT_OWNERSHIP == "BucketOwnerEnforced"


def test_both_functions_are_told_the_landing_buckets_of_their_deployment():
    for module in ("aggregator", "breaker_controller"):
        expression = _environment(module)["COURIER_LANDING_BUCKETS"]
        assert _as_deployed(module, expression) == "${var.landing_bucket_name}", module
    assert _pipeline_module("landing_bucket")["name"] == "${var.landing_bucket_name}"


# The deployment's defaults in one place (courier.resources), the local stack's defaults too: equal to the
# Terraform variables' defaults in the pipeline module (what an environment gets) and in the aggregator module.
DEPLOYMENT_DEFAULTS = {
    ("pipeline", "function_timeout_seconds"): provision.FUNCTION_TIMEOUT_SECONDS,
    ("aggregator", "timeout_seconds"): provision.FUNCTION_TIMEOUT_SECONDS,
    ("pipeline", "function_memory_mb"): provision.FUNCTION_MEMORY_MB,
    ("aggregator", "memory_mb"): provision.FUNCTION_MEMORY_MB,
    ("pipeline", "batch_size"): provision.BATCH_SIZE,
    ("aggregator", "batch_size"): provision.BATCH_SIZE,
    ("pipeline", "batching_window_seconds"): provision.BATCHING_WINDOW_SECONDS,
    ("aggregator", "batching_window_seconds"): provision.BATCHING_WINDOW_SECONDS,
    ("pipeline", "maximum_concurrency"): provision.MAXIMUM_CONCURRENCY,
    ("aggregator", "maximum_concurrency"): provision.MAXIMUM_CONCURRENCY,
    ("pipeline", "breaker_recovery_seconds"): provision.BREAKER_RECOVERY_SECONDS,
    ("queue", "max_receive_count"): provision.MAX_RECEIVE_COUNT,
}


@pytest.mark.parametrize(("module", "variable"), sorted(DEPLOYMENT_DEFAULTS))
def test_the_deployment_defaults_in_resources_are_the_terraform_defaults(module, variable):
    assert default(module, variable) == DEPLOYMENT_DEFAULTS[(module, variable)]


def test_the_local_stack_runs_with_the_deployment_defaults_unless_told_otherwise():
    from courier.local.stack import LocalConfig

    config = LocalConfig()
    assert config.function_timeout_seconds == provision.FUNCTION_TIMEOUT_SECONDS
    assert config.memory_mb == provision.FUNCTION_MEMORY_MB
    assert (config.batch_size, config.batching_window_seconds) == (provision.BATCH_SIZE, provision.BATCHING_WINDOW_SECONDS)
    # The queue's visibility timeout as modules/queue derives it from the same two defaults.
    formula = locals_("queue")["visibility_timeout_seconds"].replace(" ", "")
    assert formula == "${6*var.function_timeout_seconds+var.batching_window_seconds}"
    assert config.visibility_timeout_seconds == 6 * provision.FUNCTION_TIMEOUT_SECONDS + provision.BATCHING_WINDOW_SECONDS
    assert {name for name, _, _ in config.differences()} == {"concurrency", "breaker recovery (s)", "controller period (s)"}
    assert default("breaker_controller", "schedule_expression") == f"rate({provision.CONTROLLER_PERIOD_SECONDS // 60} minute)"
    quick = LocalConfig(function_timeout_seconds=30, batching_window_seconds=1)
    differing = quick.differences()
    assert ("function timeout (s)", "30", "120") in differing and ("batching window (s)", "1", "20") in differing


def test_a_local_function_with_the_deployment_defaults_takes_the_deployments_largest_file(tmp_path, clean_courier_env):
    """The ceiling follows from the timeout and the memory: the same settings, the same ceiling (a 300 MB file fits)."""
    from courier.local.stack import LocalConfig, LocalStack

    settings = LocalStack(LocalConfig(state_dir=tmp_path)).check_settings({})
    assert settings.function_timeout_seconds == provision.FUNCTION_TIMEOUT_SECONDS and settings.memory_budget_mb == 256
    assert settings.max_object_bytes is not None and settings.max_object_bytes > 300 * 2**20


def test_the_sweep_schedule_invokes_the_controller_function_with_the_input_its_handler_sweeps_for():
    from courier.sweep import SWEEP_EVENT

    r = resources("breaker_controller")
    rule, target = r[("aws_cloudwatch_event_rule", "sweep")], r[("aws_cloudwatch_event_target", "sweep")]
    assert rule["schedule_expression"] == "${var.sweep_schedule_expression}"
    assert default("breaker_controller", "sweep_schedule_expression") == "rate(1 hour)"
    assert provision.SWEEP_PERIOD_SECONDS == 3600  # the local stack's sweep schedule
    assert target["arn"] == "${aws_lambda_function.this.arn}" and target["rule"] == "${aws_cloudwatch_event_rule.sweep.name}"
    fields = ", ".join(f'{name} = "{value}"' for name, value in SWEEP_EVENT.items())
    assert target["input"] == "${jsonencode({" + fields + "})}"
    permission = r[("aws_lambda_permission", "sweep")]
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.sweep.arn}"
    assert permission["principal"] == "events.amazonaws.com"


def test_the_s3_endpoint_lets_version_deletes_through_to_the_landing_buckets_objects_only():
    statements = [s for s in policy("network_endpoints", "s3") if "s3:DeleteObjectVersion" in s["actions"]]
    assert [(s["sid"], s["actions"], s["resources"]) for s in statements] == [
        ("SweepDeletesLandingVersionsOnly", ["s3:DeleteObjectVersion"], ["${var.landing_bucket_arn}/*"])
    ]
    assert not any("s3:DeleteObject" in s["actions"] for s in policy("network_endpoints", "s3"))


def test_the_landing_bucket_policy_neither_grants_version_deletes_nor_denies_them_to_anyone_but_the_uploader():
    """The sweep's deletes come from its role's own policy (same account); the bucket policy (#21's guard) adds
    nothing for them and refuses them only to the uploader."""
    deleting = [s for s in policy("landing_bucket") if "s3:DeleteObjectVersion" in s["actions"]]
    assert [(s["sid"], s["effect"], s["principals"]) for s in deleting] == [
        ("UploaderMayNotReadListOrDelete", "Deny", [{"type": "AWS", "identifiers": "${var.uploader_principal_arns}"}])
    ]
